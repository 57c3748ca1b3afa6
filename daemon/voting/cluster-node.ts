import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Db } from '../../database/open-database';
import type { DaemonConfig } from '../config';
import type { Command } from '../../database/commands';
import type { ApplyResult } from '../../database/apply-command';
import { getLocal, getMeta, getNode, listNodes, setLocal } from '../../database/queries';
import { Raft, ProposalTracker, SqliteRaftStorage, type Message, type NodeId, type Ready } from './raft/index';
import { SqliteStateMachine, REPLICATED_TABLES } from './state-machine';
import { HttpTransport, type Transport } from './http-transport';
import type { askPeer } from './peer-client';
import { detectHostChanges } from './host-monitor';
import { isFromStranger } from './admission';
import { Admitter } from './admitter';
import { AppliedWaiters, Forwarder } from './forwarding';
import { nextMembershipStep, planRemoval, roleChangeRefusal, transferTarget } from './membership';
import type { ChangeNotes } from '../changes';
import type { Logger } from '../logger';
import { errorMessage } from '../logger';
import { clusterSecret, type JoinRequest, type MembershipRequest, type VotingReply } from '../cluster-protocol';
import type { NodeTls } from '../tls/node-tls';
import type { PeerHttp } from '../tls/peer-tls';
import { newJoinToken } from '../tls/join-token';

/** Raft timing and host-loss detection, as configured (docs/voting.md). */
export type VotingSettings = DaemonConfig['voting'];

export interface ClusterNodeOptions {
  db: Db;
  nodeId: string;
  name: string;
  advertise: string;
  role: 'manager' | 'worker';
  settings: VotingSettings;
  notes: ChangeNotes;
  log: Logger;
  /** The cluster CA and this node's certificate (daemon/tls). */
  tls: NodeTls;
  /** How requests reach peers: mutual TLS, or clear HTTP with --insecure. */
  peers: PeerHttp;
  /** Hears each proposal made on this node (not those forwarded to it) and each command applied (daemon/metrics/thread-metrics.ts). */
  metrics?: {
    proposed(seconds: number, outcome: string): void;
    applied(command: string, seconds: number): void;
  };
  /** True while this node's link to the peer is cut outward (`--debug-links`, daemon/voting/debug-links.ts). */
  dropsOutgoing?(id: NodeId): boolean;
  /**
   * Makes the transport of Raft batches, given what it must report back to
   * the core. Default: HttpTransport over `peers`. A test passes an
   * in-memory network (test/helpers/memory-transport.ts).
   */
  transport?(events: TransportEvents): Transport;
  /** How a follower's request reaches the leader (forwarding, ./forwarding.ts). Default: askPeer over `peers`. */
  askLeader?: typeof askPeer;
}

/** What a transport tells the Raft core about delivery; it may call these at any time after `send`, never during it. */
export interface TransportEvents {
  /** A peer could not be reached: the core stops streaming to it and probes. */
  onUnreachable(id: NodeId): void;
  /** A snapshot message was delivered and installed (ok) or not. */
  onSnapshotSent(id: NodeId, ok: boolean): void;
}

/** How long the voting thread handles Readies at a stretch before it lets the event loop turn (messages out and in). */
const PROCESS_SLICE_MS = 50;

/**
 * The voting thread's shell around the Raft core: ticks it, persists and
 * sends its Ready batches, applies committed commands to SQLite, answers
 * proposals and serves read barriers, and on the leader detects lost hosts
 * and keeps the configuration true to the roles. Beside it: forwarding to
 * the leader (./forwarding.ts), admission of joining nodes (./admitter.ts,
 * ./admission.ts) and the membership policy (./membership.ts).
 */
export class ClusterNode {
  private raft: Raft | undefined;
  private readonly storage: SqliteRaftStorage;
  private readonly machine: SqliteStateMachine;
  private readonly transport: Transport;
  private readonly tracker = new ProposalTracker<{ index: number; settle(reply: VotingReply): void }>();
  private readonly reads = new Map<string, (index: number | null) => void>();
  private readonly waiters: AppliedWaiters;
  private readonly forwarder: Forwarder;
  private readonly admitter: Admitter;
  private readonly lastContact = new Map<NodeId, number>();
  private readonly learnedAddresses = new Map<NodeId, string>();
  private results = new Map<number, ApplyResult>();
  private leaderId: NodeId | null = null;
  private term = 0;
  private leaderSince = 0;
  private lastHousekeeping = 0;
  private lastSeenRecorded = 0;
  /** When this node last heard from the leader it follows (or led), and the value last written to local_state. */
  private leaderContactAt = 0;
  private leaderContactRecorded = 0;
  private appliedSinceSnapshot = 0;
  private registered = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private processing = false;
  private resumeScheduled = false;
  /** The entries' data applied since the last snapshot, and the last snapshot's size, in characters. */
  private appliedBytesSinceSnapshot = 0;
  private lastSnapshotBytes = 0;

  constructor(private readonly o: ClusterNodeOptions) {
    this.storage = new SqliteRaftStorage(o.db);
    this.machine = new SqliteStateMachine(o.db, o.metrics && ((command, seconds) => o.metrics!.applied(command, seconds)));
    const events: TransportEvents = {
      onUnreachable: (id) => this.raft?.reportUnreachable(id),
      onSnapshotSent: (id, ok) => this.raft?.reportSnapshot(id, ok),
    };
    this.transport = o.transport
      ? o.transport(events)
      : new HttpTransport({
          http: o.peers,
          selfAddress: o.advertise,
          secret: () => clusterSecret(o.db),
          addressOf: (id) => this.addressOf(id),
          ...events,
          log: o.log,
          dropsOutgoing: o.dropsOutgoing,
        });
    this.waiters = new AppliedWaiters(() => this.machine.appliedIndex());
    this.forwarder = new Forwarder({
      http: o.peers,
      selfAddress: o.advertise,
      timeoutMs: o.settings.forwardTimeoutMs,
      leader: () => this.leaderId,
      addressOf: (id) => this.addressOf(id),
      secret: () => clusterSecret(o.db),
      nameOf: (id) => this.nameOf(id),
      cut: o.dropsOutgoing,
      waiters: this.waiters,
      ask: o.askLeader,
    });
    this.admitter = new Admitter({
      db: o.db,
      nodeId: o.nodeId,
      tls: o.tls,
      log: o.log,
      isLeader: () => this.isLeader(),
      forward: (request, forwarded) => this.forwarder.forward(request, forwarded),
      propose: (command) => this.propose(command, false),
      conf: () => this.raft!.status().conf,
      addLearner: (id) => this.retryConfChange(() => this.raft!.changeMembership({ type: 'addLearner', nodeId: id })),
      changeMembership: (change) => this.changeMembership(change),
      learnAddress: (id, address) => this.learnedAddresses.set(id, address),
      heardFrom: (id, at) => this.lastContact.set(id, at),
      addressOf: (id) => this.addressOf(id),
    });
  }

  /** Starts the core: `peers` only when founding a new cluster (then this node is its only voter). */
  start(peers?: NodeId[], learners?: NodeId[]): void {
    const snapshot = this.storage.snapshot();
    if (this.machine.appliedIndex() < snapshot.meta.index) this.machine.restore(snapshot);
    this.raft = new Raft({
      id: this.o.nodeId,
      storage: this.storage,
      random: Math.random,
      peers,
      learners,
      applied: this.machine.appliedIndex(),
      electionTicks: this.o.settings.electionTicks,
      heartbeatTicks: this.o.settings.heartbeatTicks,
      learnerHeartbeatTicks: this.o.settings.learnerHeartbeatTicks,
    });
    this.tracker.onSettled = (handle, outcome) => {
      if (outcome === 'committed') handle.settle({ ok: true, result: this.results.get(handle.index), index: handle.index });
      else if (outcome === 'lost') handle.settle(failure('PROPOSAL_DROPPED', 'the leader changed before the write committed; retry it'));
      else handle.settle(failure('UNAVAILABLE', 'the outcome of the write is unknown (a snapshot covered it); check and retry'));
    };
    this.timer = setInterval(() => this.tick(), this.o.settings.tickMs);
    this.process();
  }

  /** True before this node has any log: it must found a cluster or join one. */
  hasEmptyLog(): boolean {
    return this.storage.lastIndex() === 0 && this.storage.snapshot().meta.index === 0;
  }

  isLeader(): boolean {
    return this.raft !== undefined && this.leaderId === this.o.nodeId;
  }

  // ---- inputs ---------------------------------------------------------------

  private tick(): void {
    if (!this.raft) return;
    this.raft.tick();
    const now = Date.now();
    if (this.isLeader()) this.leaderContactAt = now;
    this.recordLeaderContact(now);
    if (this.isLeader() && now - this.lastHousekeeping >= 250) {
      this.lastHousekeeping = now;
      this.leaderHousekeeping(now);
    }
    this.process();
  }

  /** Raft messages from peers (through the REST thread). */
  receive(messages: Message[], fromAddress: string | null): void {
    if (!this.raft) return;
    const now = Date.now();
    const conf = this.raft.status().conf;
    for (const m of messages) {
      if (isFromStranger(m.type, m.from, conf, (id) => getNode(this.o.db, id) !== undefined)) {
        this.o.log.debug('dropped a message from a node that is not a member', { peer: m.from, type: m.type, term: m.term });
        continue;
      }
      this.lastContact.set(m.from, now);
      // A member's address is the one its row records; only a node not registered yet is reached at the address it gives.
      if (fromAddress && !getNode(this.o.db, m.from)) this.learnedAddresses.set(m.from, fromAddress);
      const ignored = this.raft.ignoredMessages();
      try {
        this.raft.step(m);
        if (this.raft.ignoredMessages() > ignored) this.o.log.debug('ignored a non-voter\'s message that would raise the term, ask for a vote or lead', { peer: m.from, type: m.type, term: m.term });
        // A leader's message the core accepted: the node it now follows is the sender, at the sender's term.
        if ((m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') && this.raft.basicStatus().leader === m.from) this.leaderContactAt = now;
      } catch (error) {
        this.o.log.warn('dropped a peer message', { peer: m.from, type: m.type, error: errorMessage(error) });
      }
    }
    this.process();
  }

  /**
   * Commits `command` (on a follower, through the leader) and answers once
   * this node has applied it. A proposal this node makes is timed, from here
   * to its answer; one forwarded to it is the proposer's to time.
   */
  async propose(command: Command, forwarded: boolean): Promise<VotingReply> {
    if (forwarded || !this.o.metrics) return this.proposeUntimed(command, forwarded);
    const started = performance.now();
    const reply = await this.proposeUntimed(command, forwarded);
    this.o.metrics.proposed((performance.now() - started) / 1000, reply.ok ? 'committed' : reply.error.code);
    return reply;
  }

  private async proposeUntimed(command: Command, forwarded: boolean): Promise<VotingReply> {
    const raft = this.raft;
    if (!raft) return failure('NO_LEADER', 'this node has not joined a cluster yet');
    if (this.isLeader()) {
      const accepted = raft.propose(JSON.stringify(command));
      if (!accepted.ok) return failure('NO_LEADER', `the leader cannot take writes right now (${accepted.message}); retry shortly`);
      const reply = new Promise<VotingReply>((settle) => this.tracker.track(accepted.index, accepted.term, { index: accepted.index, settle }));
      this.process();
      return reply;
    }
    return this.forwarder.forwardAndWait({ kind: 'propose', command, forwarded: true }, forwarded);
  }

  /** A read barrier: resolves with an index this node has applied that includes every write committed before the call. */
  async read(forwarded: boolean): Promise<VotingReply> {
    const raft = this.raft;
    if (!raft) return failure('NO_LEADER', 'this node has not joined a cluster yet');
    if (this.isLeader()) {
      const id = randomBytes(8).toString('hex');
      const index = new Promise<number | null>((resolve) => this.reads.set(id, resolve));
      const accepted = raft.readIndex(id);
      if (!accepted.ok) {
        this.reads.delete(id);
        return failure('NO_LEADER', `the leader cannot serve reads right now (${accepted.message}); retry shortly`);
      }
      this.process();
      const at = await index;
      if (at === null) return failure('NO_LEADER', 'leadership changed during the read; retry it');
      const lags = await this.waiters.until({ what: 'read', leader: this.nameOf(this.o.nodeId), index: at }, this.o.settings.forwardTimeoutMs);
      return lags ? { ok: false, error: lags } : { ok: true, index: at };
    }
    return this.forwarder.forwardAndWait({ kind: 'read', forwarded: true }, forwarded);
  }

  /** A node asks to join (or a member to rejoin after its certificate expired): ./admitter.ts. */
  join(request: JoinRequest, forwarded: boolean): Promise<VotingReply> {
    return this.admitter.join(request, forwarded);
  }

  /** A member renews its certificate. */
  /**
   * Session workers a manager heard from (modules/sessions.ts): on the
   * leader they count as heard from now, as a Raft message from a learner
   * does, for host-loss detection; a follower forwards them to the leader.
   * Ids that are no session worker's are ignored.
   */
  async sessionsSeen(nodeIds: readonly string[], forwarded: boolean): Promise<VotingReply> {
    if (!this.isLeader()) return this.forwarder.forward({ kind: 'seen', nodeIds: [...nodeIds], forwarded: true }, forwarded);
    const now = Date.now();
    for (const id of nodeIds) if (getNode(this.o.db, id)?.link === 'session') this.lastContact.set(id, now);
    return { ok: true };
  }

  sign(nodeId: string, csr: string, forwarded: boolean): Promise<VotingReply> {
    return this.admitter.sign(nodeId, csr, forwarded);
  }

  /** A manager without the CA key asks the leader for it. */
  caKey(nodeId: string, forwarded: boolean): Promise<VotingReply> {
    return this.admitter.caKey(nodeId, forwarded);
  }

  async changeMembership(change: MembershipRequest): Promise<VotingReply> {
    if (!this.isLeader()) return this.forwarder.forward({ kind: 'membership', change }, false);
    const node = getNode(this.o.db, change.nodeId);
    if (!node) return failure('NODE_NOT_FOUND', `no node with id or name ${change.nodeId}`);
    const now = Date.now();
    if (change.action === 'remove') {
      const plan = planRemoval(node, this.raft!.status().conf, this.o.nodeId);
      if (!plan.ok) return { ok: false, error: plan.error };
      if (plan.leavesConf) {
        const removed = await this.retryConfChange(() => this.raft!.changeMembership({ type: 'removeNode', nodeId: node.id }));
        if (!removed.ok) return removed;
      }
      return this.propose({ type: 'node.remove', nodeId: node.id, at: now }, false);
    }
    const role = change.action === 'promote' ? 'manager' : 'worker';
    const refused = roleChangeRefusal(node, role, listNodes(this.o.db), this.o.nodeId);
    if (refused) return { ok: false, error: refused };
    return this.propose({ type: 'node.set-role', nodeId: node.id, role, at: now }, false);
  }

  // ---- the Ready loop -------------------------------------------------------

  /** Persist, send, apply, advance — in that order — until the core has nothing more. */
  /**
   * Handles Readies until none is left, or until PROCESS_SLICE_MS have gone:
   * then the rest waits for the next turn of the event loop, so that the
   * messages just queued leave and peers' messages come in (a follower that
   * applies for seconds on end would miss its leader's heartbeats).
   */
  private process(): void {
    const raft = this.raft;
    if (!raft || this.processing) return;
    this.processing = true;
    const started = performance.now();
    try {
      while (raft.hasReady()) {
        this.handleReady(raft, raft.ready());
        if (performance.now() - started > PROCESS_SLICE_MS && raft.hasReady()) {
          if (!this.resumeScheduled) {
            this.resumeScheduled = true;
            setImmediate(() => {
              this.resumeScheduled = false;
              this.process();
            });
          }
          break;
        }
      }
    } finally {
      this.processing = false;
    }
    this.waiters.release();
  }

  private handleReady(raft: Raft, rd: Ready): void {
    this.storage.save(rd.hardState, rd.entries, rd.snapshot);
    this.transport.send(rd.messages);
    if (rd.snapshot) {
      this.machine.restore(rd.snapshot);
      this.tracker.restored(rd.snapshot.meta);
      this.o.notes.publish([...REPLICATED_TABLES]);
      this.o.log.info('installed a snapshot from the leader', { index: rd.snapshot.meta.index });
    }
    if (rd.committedEntries.length > 0) {
      const batch = this.machine.apply(rd.committedEntries);
      this.results = batch.results;
      for (const entry of rd.committedEntries) this.tracker.applied(entry);
      this.results = new Map();
      this.o.notes.publish([...batch.touched]);
      this.appliedSinceSnapshot += rd.committedEntries.length;
      for (const entry of rd.committedEntries) this.appliedBytesSinceSnapshot += entry.data.length;
    }
    for (const rs of rd.readStates) {
      this.reads.get(rs.requestId)?.(rs.index);
      this.reads.delete(rs.requestId);
    }
    for (const id of rd.droppedReads) {
      this.reads.get(id)?.(null);
      this.reads.delete(id);
    }
    if (rd.softState.leader !== this.leaderId || raft.basicStatus().term !== this.term) this.onLeadership(rd.softState.leader, raft.basicStatus().term);
    raft.advance(rd);
    this.maybeSnapshot();
  }

  private onLeadership(leader: NodeId | null, term: number): void {
    const changed = leader !== this.leaderId;
    this.leaderId = leader;
    this.term = term;
    setLocal(this.o.db, 'leader_id', leader ?? '');
    setLocal(this.o.db, 'term', String(term));
    this.o.notes.publish(['meta']);
    if (!changed) return;
    if (leader === this.o.nodeId) {
      this.leaderSince = Date.now();
      this.lastContact.clear();
      this.o.log.info('this node is the leader', { term });
      void this.afterElected();
    } else if (leader) {
      this.o.log.info('following a leader', { leader, term });
    } else {
      this.o.log.warn('no leader', { term });
    }
    if (leader && !this.registered) void this.registerSelf();
  }

  /** A new cluster's first leader records the cluster's id and secrets. */
  private async afterElected(): Promise<void> {
    if (getMeta(this.o.db, 'cluster_id')) return;
    const clusterId = randomBytes(8).toString('hex');
    const secret = getLocal(this.o.db, 'cluster_secret') ?? randomBytes(24).toString('base64url');
    const caCert = this.o.tls.files.caCert();
    const fingerprint = this.o.tls.caFingerprint();
    const joinToken = fingerprint ? newJoinToken(clusterId, fingerprint) : `BCT1-${clusterId}-${randomBytes(16).toString('base64url')}`;
    const reply = await this.propose({ type: 'cluster.init', clusterId, secret, joinToken, ...(caCert ? { caCert } : {}), at: Date.now() }, false);
    if (reply.ok) this.o.log.info('initialised a new cluster', { cluster: clusterId });
  }

  /** Every start, once a leader is known: this node's row says it is here (address, role, start time). */
  private async registerSelf(): Promise<void> {
    this.registered = true;
    for (let attempt = 0; attempt < 50 && !this.stopped; attempt++) {
      const now = Date.now();
      const existing = getNode(this.o.db, this.o.nodeId);
      const node = { id: this.o.nodeId, name: this.o.name, address: this.o.advertise, role: existing?.role ?? this.o.role, startedAt: now };
      const reply = await this.propose({ type: 'node.register', node, at: now }, false).catch((error: unknown) => failure('UNAVAILABLE', errorMessage(error)));
      if (reply.ok && reply.result?.ok !== false) return;
      if (reply.ok && reply.result && !reply.result.ok) {
        this.o.log.error('this node cannot register', { error: reply.result.error.message });
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    this.registered = false;
  }

  private leaderHousekeeping(now: number): void {
    const raft = this.raft!;
    const nodes = listNodes(this.o.db);
    const commands = detectHostChanges({ nodes, selfId: this.o.nodeId, lastContact: this.lastContact, leaderSince: this.leaderSince, now, graceMs: this.o.settings.hostGraceMs });
    for (const c of commands) {
      if (c.type === 'node.set-status') this.o.log.warn(c.status === 'DOWN' ? 'node lost' : 'node back', { target: nodes.find((n) => n.id === c.nodeId)?.name, status: c.status });
    }
    // Last contact, replicated every few seconds so that every node's State shows it.
    if (now - this.lastSeenRecorded >= 5000) {
      this.lastSeenRecorded = now;
      const seen: Record<string, number> = { [this.o.nodeId]: now };
      for (const n of nodes) {
        const heard = this.lastContact.get(n.id);
        if (heard !== undefined && heard > n.lastSeenAt) seen[n.id] = heard;
      }
      commands.push({ type: 'node.seen', seen, at: now });
    }
    if (commands.length > 0) void this.propose({ type: 'batch', commands }, false);
    // Managers vote once caught up; workers only learn (./membership.ts).
    const step = nextMembershipStep(nodes, raft.status(), this.o.nodeId);
    if (step && raft.changeMembership(step.change).ok) this.o.log.info(step.log, { target: step.target });
  }

  /**
   * Writes `leader_contact_at` to local_state for the agent's cut-off rule
   * (daemon/deployment/cut-off.ts), at most every 250 ms: the value lags the
   * last contact by no more than that plus one tick, far below the grace.
   */
  private recordLeaderContact(now: number): void {
    if (this.leaderContactAt <= this.leaderContactRecorded || now - this.leaderContactRecorded < 250) return;
    setLocal(this.o.db, 'leader_contact_at', String(this.leaderContactAt));
    this.leaderContactRecorded = this.leaderContactAt;
  }

  /**
   * A snapshot every `snapshotEveryEntries` applied entries, once as many
   * bytes of entries were applied since the last one as it had: taking one
   * costs its size (the whole state), so at scale they come as often as the
   * log grows by a state's worth, not every thousand entries.
   */
  private maybeSnapshot(): void {
    if (this.appliedSinceSnapshot < this.o.settings.snapshotEveryEntries || this.appliedBytesSinceSnapshot < this.lastSnapshotBytes) return;
    this.appliedSinceSnapshot = 0;
    this.appliedBytesSinceSnapshot = 0;
    const data = this.machine.snapshotData();
    this.lastSnapshotBytes = data.length;
    this.storage.compact(this.machine.appliedIndex(), data);
  }

  // ---- helpers --------------------------------------------------------------

  private async retryConfChange(change: () => ReturnType<Raft['changeMembership']>): Promise<VotingReply> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const r = change();
      if (r.ok) {
        this.process();
        return { ok: true };
      }
      if (r.code !== 'CONF_CHANGE_PENDING') return failure('INVALID_ARGUMENT', r.message);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return failure('UNAVAILABLE', 'another membership change is still pending; retry shortly');
  }

  addressOf(id: NodeId): string | undefined {
    return this.learnedAddresses.get(id) ?? getNode(this.o.db, id)?.address;
  }

  /** How messages name a node: its name and id once its row records it, else its id. */
  private nameOf(id: NodeId): string {
    const node = getNode(this.o.db, id);
    return node ? `${node.name} (id ${id})` : id;
  }

  /** Remembers peer addresses learned outside the log (a join grant). */
  learnAddresses(members: Record<string, string>): void {
    for (const [id, address] of Object.entries(members)) this.learnedAddresses.set(id, address);
  }

  /** On a graceful stop: hand leadership to the most up-to-date voter, so the cluster does not wait for an election timeout. */
  async transferLeadership(timeoutMs: number): Promise<void> {
    const raft = this.raft;
    if (!raft || !this.isLeader()) return;
    const best = transferTarget(raft.status(), this.o.nodeId);
    if (best === null || !raft.transferLeadership(best).ok) return;
    this.process();
    const deadline = Date.now() + timeoutMs;
    while (this.isLeader() && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, this.o.settings.tickMs / 2));
    }
    this.o.log.info(this.isLeader() ? 'leadership transfer did not finish in time' : 'handed leadership over', { to: best });
  }

  stop(): void {
    // A registration still retrying gives up: the database may be closed right after.
    this.stopped = true;
    clearInterval(this.timer);
    this.transport.close();
    for (const handle of this.tracker.drain()) handle.settle(failure('UNAVAILABLE', 'bicycled is stopping'));
    for (const resolve of this.reads.values()) resolve(null);
    this.reads.clear();
    this.waiters.close();
  }
}

function failure(code: import('../errors').ErrorCode, message: string): VotingReply {
  return { ok: false, error: { code, message } };
}

