import { quorumMatch } from './progress';
import { RaftInvariantError } from './raft-log';
import type {
  AppendRequest,
  AppendResponse,
  EntryType,
  Heartbeat,
  HeartbeatResponse,
  NodeId,
  SnapshotRequest,
} from './types';
import { RaftState } from './raft-state';

/**
 * Log replication (Raft §5.3, §7): the follower side (append, heartbeat,
 * snapshot), the leader side (answers, flow control, sending), and the
 * commit rule (§5.4.2).
 */
export abstract class Replication extends RaftState {
  // ---- follower side of replication ----------------------------------------

  protected handleFromLeader(m: AppendRequest | Heartbeat | SnapshotRequest): void {
    if (m.type === 'append') this.handleAppend(m);
    else if (m.type === 'heartbeat') this.handleHeartbeat(m);
    else this.handleSnapshot(m);
  }

  protected handleAppend(m: AppendRequest): void {
    const reply = (reject: boolean, index: number, hintIndex = 0, hintTerm = 0): void =>
      this.send({ type: 'appendResp', to: m.from, reject, index, hintIndex, hintTerm });
    if (m.prevIndex < this.log.committed) {
      reply(false, this.log.committed);
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.syncConf();
      reply(false, lastNew);
      return;
    }
    // Raft §5.3 consistency check failed: point the leader at our last entry that may match.
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    reply(true, m.prevIndex, hint.index, hint.term);
  }

  protected handleHeartbeat(m: Heartbeat): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', to: m.from, context: m.context });
  }

  protected handleSnapshot(m: SnapshotRequest): void {
    const { index, term } = m.snapshot.meta;
    if (index > this.log.committed) {
      if (this.log.matchTerm(index, term)) {
        this.log.commitTo(index); // our log already holds it: just fast-forward commit
      } else {
        this.log.restore(m.snapshot);
        this.syncConf();
      }
    }
    this.send({ type: 'appendResp', to: m.from, reject: false, index: this.log.lastIndex(), hintIndex: 0, hintTerm: 0 });
  }

  // ---- leader side of replication ------------------------------------------

  protected handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (m.reject) {
      const probe = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
      if (pr.maybeDecrTo(m.index, probe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
    if (pr.state === 'probe') pr.becomeReplicate();
    else pr.freeInflightTo(m.index);
    this.maybeCommit();
    if (this.role !== 'leader') return; // committed its own removal
    while (this.sendAppend(m.from, false)) {
      // flow control may allow several messages at once
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from });
    }
  }

  protected handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.heard();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
    if (m.context !== '') this.readStates.push(...this.readOnly.ack(m.from, m.context, this.voters));
  }

  /** Send `to` what it lacks: entries, or the snapshot if they are compacted. False if nothing was sent. */
  protected sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.termOrUndefined(prevIndex);
    if (prevTerm === undefined) {
      const snapshot = this.log.snapshot();
      if (prevIndex >= snapshot.meta.index) throw new RaftInvariantError(`next ${pr.next} for ${to} is past the log`);
      this.send({ type: 'snapshot', to, snapshot });
      pr.becomeSnapshot(snapshot.meta.index);
      return true;
    }
    const candidates = this.log.entries(pr.next, Math.min(this.log.lastIndex(), prevIndex + this.cfg.maxEntriesPerMessage) + 1);
    // Bounded in bytes too: at least one entry, then as many as fit.
    let bytes = 0;
    let fit = 0;
    while (fit < candidates.length && (fit === 0 || bytes + candidates[fit]!.data.length <= this.cfg.maxBytesPerMessage)) bytes += candidates[fit++]!.data.length;
    const entries = fit === candidates.length ? candidates : candidates.slice(0, fit);
    const last = prevIndex + fit;
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'append', to, prevIndex, prevTerm, entries, commit: this.log.committed });
    pr.sentEntries(last);
    return true;
  }

  protected bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  /** A heartbeat to every voter, and to the learners too when `learners`. */
  protected bcastHeartbeat(context: string, learners = true): void {
    for (const [to, pr] of this.progress) {
      if (to === this.id || (!learners && !this.voters.has(to))) continue;
      this.send({ type: 'heartbeat', to, commit: Math.min(pr.match, this.log.committed), context });
    }
  }

  /** Raft §5.3/§5.4.2: commit the index a quorum of voters holds, if it is of this term. */
  protected maybeCommit(): boolean {
    const matches = [...this.voters].map((id) => (id === this.id ? this.log.lastIndex() : this.progress.get(id)?.match ?? 0));
    if (!this.log.maybeCommit(quorumMatch(matches), this.term)) return false;
    this.broadcastPending = true; // followers learn the new commit index
    if (this.committedInTerm() && this.readsAwaitingCommit.length > 0) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const id of waiting) this.addRead(id);
    }
    if (!this.voters.has(this.id) && this.log.confIndex() <= this.log.committed) {
      this.becomeFollower(this.term, null); // thesis §4.2.2: a removed leader steps down once C_new commits
    }
    return true;
  }

  protected appendEntry(type: EntryType, data: string): number {
    const index = this.log.lastIndex() + 1;
    this.log.append([{ index, term: this.term, type, data }]);
    this.progress.get(this.id)?.maybeUpdate(index);
    if (type === 'config') this.syncConf();
    this.broadcastPending = true;
    this.maybeCommit();
    return index;
  }

  protected addRead(requestId: string): void {
    this.readOnly.add(requestId, this.log.committed, this.id, this.voters.has(this.id));
    if (this.voters.size === 1 && this.voters.has(this.id)) this.readStates.push(...this.readOnly.releaseAll());
  }

}
