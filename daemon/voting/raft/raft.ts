import type { RaftConfig } from './config';
import { quorumOf } from './progress';
import { RaftInvariantError } from './raft-log';
import type {
  ConfChange,
  Entry,
  Message,
  NodeId,
  ProposeResult,
  Ready,
  Refusal,
  Role,
  SoftState,
  VoteRequest,
  ProgressStatus,
  RaftStatus,
} from './types';
import { Replication } from './replication';
import { sameHardState, sameSoftState } from './raft-state';

/**
 * One Raft server as a deterministic state machine (Raft paper and thesis).
 * It does no I/O, keeps no clock and draws randomness only from the injected
 * `random`. Drive it with `tick()`, `step(message)`, `propose(data)`,
 * `readIndex(id)`, `changeMembership(change)` and `transferLeadership(to)`;
 * collect its work with `ready()` and acknowledge it with `advance(ready)`
 * (see Ready for the order the caller must keep).
 *
 * Role changes go through becomeFollower/becomePreCandidate/becomeCandidate/
 * becomeLeader; messages of a higher or lower term are handled once in
 * `step`; each role then has its own step function.
 */
export class Raft extends Replication {
  private prevSoftState: SoftState;
  private awaitingAdvance = false;
  private ignoredFromNonVoters = 0;

  /** @throws Error naming the bad option if the config cannot work, or if `applied` lies outside the log */
  constructor(config: RaftConfig) {
    super(config);
    this.becomeFollower(this.term, null);
    this.prevSoftState = this.softState();
  }

  // ---- inputs -------------------------------------------------------------

  /** Advance logical time by one tick: elections on followers, heartbeats and check-quorum on leaders. */
  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /**
   * Take one message from a peer. Messages of other terms are handled here
   * once (Raft §5.1: a higher term makes this node a follower; a lower term is
   * stale); vote requests are answered here; the rest goes to the role's step
   * function. Messages addressed to another node are ignored, and so are a
   * non-voter's attempts to raise the term, ask for a vote or lead (see
   * isPowerGrabByNonVoter).
   */
  step(m: Message): void {
    if (m.to !== this.id) return;
    if (this.isPowerGrabByNonVoter(m)) {
      this.ignoredFromNonVoters += 1;
      return;
    }
    if (m.term > this.term) {
      const isVote = m.type === 'vote' || m.type === 'preVote';
      if (isVote && !m.transfer && this.inLease()) return; // thesis §4.2.3: a live leader is not disrupted
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // A pre-vote carries the term its sender would campaign in; it changes no term.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
        // A deposed leader cut off for a while: tell it the new term so it steps down.
        this.send({ type: 'appendResp', to: m.from, reject: false, index: 0, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, reject: true });
      }
      return;
    }
    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  /**
   * Append a command to the leader's log. Refused on a follower (NOT_LEADER,
   * naming the leader to forward to) and during a leadership transfer.
   */
  propose(data: string): ProposeResult {
    const refusal = this.refuseUnlessLeader();
    if (refusal !== null) return refusal;
    const index = this.appendEntry('normal', data);
    return { ok: true, index, term: this.term };
  }

  /**
   * Ask for a linearizable read (Raft thesis §6.4). On acceptance a ReadState
   * with this `requestId` appears in a later Ready once this node has
   * confirmed its leadership; serve the read after applying up to its index.
   * If leadership is lost first, the id appears in `droppedReads` instead.
   */
  readIndex(requestId: string): { ok: true } | Refusal {
    if (this.role !== 'leader') return this.refusal('NOT_LEADER', 'reads are served by the leader');
    if (!this.committedInTerm()) this.readsAwaitingCommit.push(requestId);
    else this.addRead(requestId);
    return { ok: true };
  }

  /**
   * Propose a single-server membership change (thesis §4.1). It takes effect
   * on each server as soon as its config entry is in that server's log. Only
   * one change may be uncommitted at a time, and none before this leader has
   * committed an entry of its own term (the thesis' fix for the single-server
   * change bug).
   */
  changeMembership(change: ConfChange): ProposeResult {
    const refusal = this.refuseUnlessLeader();
    if (refusal !== null) return refusal;
    if (this.pendingConfIndex > this.log.committed || !this.committedInTerm()) {
      return this.refusal('CONF_CHANGE_PENDING', 'a membership change or the leader\'s first entry is not committed yet; retry later');
    }
    const voters = this.conf.voters.filter((id) => id !== change.nodeId);
    const learners = this.conf.learners.filter((id) => id !== change.nodeId);
    const known = voters.length !== this.conf.voters.length || learners.length !== this.conf.learners.length;
    const isVoter = this.voters.has(change.nodeId);
    if (change.type === 'addLearner' && known) return this.refusal('INVALID_CONF_CHANGE', `${change.nodeId} is already a member`);
    if (change.type === 'addVoter' && isVoter) return this.refusal('INVALID_CONF_CHANGE', `${change.nodeId} is already a voter`);
    if (change.type === 'removeNode' && !known) return this.refusal('INVALID_CONF_CHANGE', `${change.nodeId} is not a member`);
    if (change.type === 'removeNode' && voters.length === 0) {
      return this.refusal('INVALID_CONF_CHANGE', `removing ${change.nodeId} would leave no voter`);
    }
    if (change.type === 'addVoter') voters.push(change.nodeId);
    if (change.type === 'addLearner') learners.push(change.nodeId);
    const index = this.appendEntry('config', JSON.stringify({ voters, learners }));
    this.pendingConfIndex = index;
    return { ok: true, index, term: this.term };
  }

  /**
   * Hand leadership to voter `to` (thesis §3.10): stop taking proposals,
   * bring `to` up to date, then send it TimeoutNow so it campaigns at once.
   * Abandoned after electionTicks if it has not happened.
   */
  transferLeadership(to: NodeId): { ok: true } | Refusal {
    if (this.role !== 'leader') return this.refusal('NOT_LEADER', 'only the leader can transfer leadership');
    if (to === this.id) return { ok: true };
    if (!this.voters.has(to)) return this.refusal('INVALID_CONF_CHANGE', `${to} is not a voter`);
    if (this.leadTransferee === to) return { ok: true };
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to });
    else this.sendAppend(to, true);
    return { ok: true };
  }

  /** The transport could not reach `to`: stop streaming to it and probe instead. */
  reportUnreachable(to: NodeId): void {
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** The transport failed (ok=false) or finished sending a snapshot to `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.progress.get(to);
    if (this.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for the follower's answer (or a heartbeat) before probing again
  }

  // ---- outputs ------------------------------------------------------------

  /** Is there anything for the caller to do? */
  hasReady(): boolean {
    return (
      this.msgs.length > 0 ||
      this.broadcastPending ||
      this.log.hasUnstable() ||
      this.log.hasNextCommittedEntries() ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0 ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  /**
   * Collect the work to do (see Ready for the order). Call `advance(ready)`
   * before the next `ready()`; stepping and ticking in between is allowed.
   * @throws RaftInvariantError if the previous Ready was not advanced
   */
  ready(): Ready {
    if (this.awaitingAdvance) throw new RaftInvariantError('ready() called before advance() of the previous Ready');
    if (this.role === 'leader') {
      if (this.broadcastPending) this.bcastAppend();
      const context = this.readOnly.takeUnsent();
      // A read is confirmed by a quorum of voters: learners need not hear of it.
      if (context !== null) this.bcastHeartbeat(context, false);
    }
    this.broadcastPending = false;
    const hardState = this.hardState();
    const softState = this.softState();
    const rd: Ready = {
      softState,
      hardState: sameHardState(hardState, this.prevHardState) ? null : hardState,
      entries: this.log.unstableEntries().slice(),
      snapshot: this.log.pendingSnapshot(),
      messages: this.msgs,
      committedEntries: this.log.nextCommittedEntries(this.cfg.maxCommittedPerReady, this.cfg.maxCommittedBytesPerReady),
      readStates: this.readStates,
      droppedReads: this.droppedReads,
    };
    this.msgs = [];
    this.readStates = [];
    this.droppedReads = [];
    this.prevHardState = hardState;
    this.prevSoftState = softState;
    this.awaitingAdvance = true;
    return rd;
  }

  /** The caller persisted, sent and applied `rd`: mark it done. */
  advance(rd: Ready): void {
    this.awaitingAdvance = false;
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) this.log.stableTo(last.index, last.term);
    if (rd.snapshot !== null) {
      this.log.stableSnapshotTo(rd.snapshot.meta.index);
      this.log.appliedTo(rd.snapshot.meta.index);
    }
    const applied = rd.committedEntries[rd.committedEntries.length - 1];
    if (applied !== undefined) this.log.appliedTo(applied.index);
  }

  /** How many messages the non-voter rule ignored so far (see step). */
  ignoredMessages(): number {
    return this.ignoredFromNonVoters;
  }

  /** The cheap part of status(): term, role, leader and log positions. */
  basicStatus(): { term: number; role: Role; leader: NodeId | null; commit: number; applied: number; lastIndex: number; lastTerm: number } {
    return {
      term: this.term,
      role: this.role,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
    };
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, ProgressStatus>();
    if (this.role === 'leader') {
      for (const [id, pr] of this.progress) progress.set(id, { match: pr.match, next: pr.next, state: pr.state });
    }
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      role: this.role,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      conf: this.conf,
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  /** Entries `lo <= index < hi` of this node's log (persisted or not); for tests and diagnostics. */
  entries(lo: number, hi: number): Entry[] {
    return this.log.entries(lo, hi);
  }

  // ---- ticks --------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed += 1;
    if (!this.promotable()) return;
    const alone = this.voters.size === 1;
    if (alone || this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote && !alone ? 'preCandidate' : 'candidate', false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed += 1;
    this.learnerHeartbeatElapsed += 1;
    this.electionElapsed += 1;
    for (const pr of this.progress.values()) {
      if (pr.state === 'snapshot' && ++pr.snapshotTicks >= 2 * this.cfg.electionTicks) pr.becomeProbe(); // deemed lost
    }
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
      this.leadTransferee = null; // a transfer not done within an election timeout is abandoned
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      const learnersToo = this.learnerHeartbeatElapsed >= this.cfg.learnerHeartbeatTicks;
      if (learnersToo) this.learnerHeartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.newest(), learnersToo);
    }
  }

  /** Check-quorum: did a majority of voters answer since the last round? Resets the round. */
  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters) {
      const pr = this.progress.get(id);
      if (id === this.id || pr?.recentActive === true) active += 1;
    }
    for (const pr of this.progress.values()) pr.recentActive = false;
    return active >= quorumOf(this.voters.size);
  }

  // ---- elections ----------------------------------------------------------

  private campaign(role: 'preCandidate' | 'candidate', transfer: boolean): void {
    if (role === 'preCandidate') this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = role === 'preCandidate' ? this.term + 1 : this.term;
    if (this.poll(this.id, true) === 'won') {
      if (role === 'preCandidate') this.campaign('candidate', transfer);
      else this.becomeLeader();
      return;
    }
    const type = role === 'preCandidate' ? 'preVote' : 'vote';
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.voters) {
      if (to !== this.id) this.send({ type, to, term: voteTerm, lastIndex, lastTerm, transfer });
    }
  }

  private poll(from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) yes += 1;
      else if (v === false) no += 1;
    }
    const q = quorumOf(this.voters.size);
    if (yes >= q) return 'won';
    return no > this.voters.size - q ? 'lost' : 'pending';
  }

  /**
   * The non-voter rule (thesis §4.2.3 on removed servers, and the learner
   * rule): only a voter of this node's configuration may raise its term, ask
   * for its vote, tell it to campaign, or lead it while it has a live leader.
   * A learner, a removed server or a stranger doing so is ignored. Two
   * exceptions keep a lagging node live: a node that knows no configuration
   * yet (a joiner before its first append) ignores nothing, and a node with
   * no live leader takes a leader's message from a stranger, who may be a
   * voter added by entries it has not received yet.
   */
  private isPowerGrabByNonVoter(m: Message): boolean {
    if (this.voters.size === 0 || this.voters.has(m.from)) return false;
    switch (m.type) {
      case 'vote':
      case 'preVote':
      case 'timeoutNow':
        return true;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        return m.term >= this.term && m.from !== this.leader && this.hasLiveLeader();
      default:
        return m.term > this.term;
    }
  }

  /** This node leads, or heard from its leader within the (minimum) election timeout. */
  private hasLiveLeader(): boolean {
    if (this.role === 'leader') return true;
    return this.leader !== null && this.electionElapsed < this.cfg.electionTicks;
  }

  /** Raft §5.2 and §5.4.1: grant a vote at most once per term, and only to an up-to-date log. */
  private handleVoteRequest(m: VoteRequest): void {
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (m.type === 'preVote' && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private inLease(): boolean {
    return this.cfg.checkQuorum && this.leader !== null && this.electionElapsed < this.cfg.electionTicks;
  }

  private promotable(): boolean {
    return this.voters.has(this.id);
  }

  // ---- role steps ---------------------------------------------------------

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleFromLeader(m);
        break;
      case 'timeoutNow':
        if (this.promotable()) this.campaign('candidate', true); // thesis §3.10: skip pre-vote
        break;
      default:
        break; // responses meant for a leader or candidate of this term: stale
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Raft §5.2: another server won this term.
        this.becomeFollower(m.term, m.from);
        this.handleFromLeader(m);
        break;
      case 'voteResp':
      case 'preVoteResp': {
        if ((m.type === 'preVoteResp') !== (this.role === 'preCandidate')) break;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'preCandidate') this.campaign('candidate', false);
          else this.becomeLeader();
        } else if (result === 'lost') {
          this.becomeFollower(this.term, null);
        }
        break;
      }
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appendResp':
        this.handleAppendResponse(m);
        break;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m);
        break;
      default:
        break; // election safety: no other leader of this term can exist
    }
  }


  // ---- roles --------------------------------------------------------------

  protected becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomePreCandidate(): void {
    // Pre-vote changes neither term nor vote (thesis §9.6).
    this.votes.clear();
    this.role = 'preCandidate';
    this.leader = null;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.pendingConfIndex = this.log.lastIndex(); // any config entry in the log may be uncommitted
    this.appendEntry('noop', ''); // Raft §8: commit an entry of this term to learn what is committed
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.learnerHeartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.cfg.electionTicks + Math.floor(this.cfg.random() * this.cfg.electionTicks);
    this.leadTransferee = null;
    this.votes.clear();
    this.pendingConfIndex = 0;
    this.broadcastPending = false;
    this.droppedReads.push(...this.readOnly.clear(), ...this.readsAwaitingCommit);
    this.readsAwaitingCommit = [];
    const next = this.log.lastIndex() + 1;
    for (const id of this.progress.keys()) this.progress.set(id, this.newProgress(id, next));
  }

}
