import { MemoryStorage, ProposalTracker, Raft, type Entry, type NodeId, type ProposalOutcome, type RaftConfig, type Ready } from '../../daemon/voting/raft';
import type { KvInput } from './linearizability';
import type { SafetyChecker } from './invariants';

/** One client operation as recorded in the history. */
export interface ClientOp {
  readonly client: number;
  readonly input: KvInput;
  output: string;
  call: number;
  /** Infinity until it returns, and forever if its outcome is unknown. */
  ret: number;
  status: 'pending' | 'ok' | 'failed' | 'unknown';
}

/** What a simulated server needs from the simulation around it. */
export interface SimHost {
  readonly checker: SafetyChecker;
  /** Snapshot the state machine when this many applied entries are in the log. */
  readonly compactEvery: number;
  send(node: NodeId, messages: Ready['messages']): void;
  /** The history clock: a new instant, later than every earlier one. */
  instant(): number;
  settled(op: ClientOp, outcome: ProposalOutcome | 'read', index: number, term: number): void;
  applied(node: NodeId, entry: Entry): void;
}

/**
 * A simulated server: a Raft node over a MemoryStorage that outlives it
 * (crashes lose only this object), plus the small key-value state machine
 * the clients use, and the client requests it is serving.
 */
export class SimNode {
  readonly raft: Raft;
  private kv = new Map<string, string>();
  private readonly writes = new ProposalTracker<{ op: ClientOp; index: number; term: number }>();
  private readonly reads = new Map<string, ClientOp>();
  private readonly readyReads: Array<{ index: number; op: ClientOp }> = [];
  private wasLeader = false;
  applied: number;

  constructor(
    readonly id: NodeId,
    readonly storage: MemoryStorage,
    private readonly host: SimHost,
    options: Omit<RaftConfig, 'id' | 'storage'>,
  ) {
    this.raft = new Raft({ ...options, id, storage });
    const snapshot = storage.snapshot();
    this.applied = snapshot.meta.index;
    if (snapshot.data !== '') this.kv = new Map(JSON.parse(snapshot.data) as Array<[string, string]>);
    this.writes.onSettled = (h, outcome) => host.settled(h.op, outcome, h.index, h.term);
  }

  /** Serve a client write; false if refused (the client learns the leader hint). */
  write(op: ClientOp): { ok: true } | { ok: false; leader: NodeId | null } {
    const r = this.raft.propose(JSON.stringify({ k: op.input.key, v: op.input.kind === 'put' ? op.input.value : '' }));
    if (!r.ok) return { ok: false, leader: r.leader };
    op.call = this.host.instant();
    this.writes.track(r.index, r.term, { op, index: r.index, term: r.term });
    this.process();
    return { ok: true };
  }

  read(op: ClientOp, requestId: string): { ok: true } | { ok: false; leader: NodeId | null } {
    const r = this.raft.readIndex(requestId);
    if (!r.ok) return { ok: false, leader: r.leader };
    op.call = this.host.instant();
    this.reads.set(requestId, op);
    this.process();
    return { ok: true };
  }

  /** The node crashes: its client requests end with unknown outcome (writes) or no answer (reads). */
  crash(): ClientOp[] {
    const lost = this.writes.drain().map((h) => h.op);
    for (const op of this.reads.values()) lost.push(op);
    for (const r of this.readyReads) lost.push(r.op);
    return lost;
  }

  value(key: string): string {
    return this.kv.get(key) ?? '';
  }

  stateJson(): string {
    return JSON.stringify([...this.kv].sort());
  }

  /** Run the Ready loop: persist, send, apply, advance; checking the invariants on the way. */
  process(): void {
    const { checker } = this.host;
    while (this.raft.hasReady()) {
      const rd = this.raft.ready();
      const isLeader = rd.softState.role === 'leader';
      if (isLeader) {
        checker.observeLeader(this.id, this.raft.basicStatus().term);
        if (!this.wasLeader) checker.checkLeaderCompleteness(this.raft, this.storage.firstIndex());
      }
      this.wasLeader = isLeader;
      this.storage.save(rd.hardState, rd.entries, rd.snapshot);
      checker.observePersisted(this.id, this.storage, rd.entries);
      if (rd.hardState !== null) checker.observeCommit(rd.hardState.commit);
      if (rd.messages.length > 0) this.host.send(this.id, rd.messages);
      if (rd.snapshot !== null) {
        this.kv = new Map(JSON.parse(rd.snapshot.data || '[]') as Array<[string, string]>);
        this.applied = rd.snapshot.meta.index;
        this.writes.restored(rd.snapshot.meta);
      }
      for (const e of rd.committedEntries) {
        if (e.index !== this.applied + 1) throw new Error(`${this.id} applied ${e.index} after ${this.applied}`);
        checker.observeApplied(this.id, e);
        if (e.type === 'normal') {
          const cmd = JSON.parse(e.data) as { k: string; v: string };
          this.kv.set(cmd.k, cmd.v);
        }
        this.applied = e.index;
        this.host.applied(this.id, e);
        this.writes.applied(e);
      }
      for (const rs of rd.readStates) {
        const op = this.reads.get(rs.requestId);
        if (op === undefined) continue;
        this.reads.delete(rs.requestId);
        this.readyReads.push({ index: rs.index, op });
      }
      for (const id of rd.droppedReads) {
        const op = this.reads.get(id);
        if (op === undefined) continue;
        this.reads.delete(id);
        this.host.settled(op, 'lost', 0, 0);
      }
      this.raft.advance(rd);
      this.serveReads();
      if (this.applied - this.storage.firstIndex() + 1 >= this.host.compactEvery && this.applied > this.storage.snapshot().meta.index) {
        this.storage.compact(this.applied, JSON.stringify([...this.kv]));
      }
    }
  }

  private serveReads(): void {
    for (let i = 0; i < this.readyReads.length; ) {
      const r = this.readyReads[i]!;
      if (r.index > this.applied) {
        i += 1;
        continue;
      }
      this.readyReads.splice(i, 1);
      r.op.output = this.value(r.op.input.key);
      this.host.settled(r.op, 'read', 0, 0);
    }
  }

  pendingRequests(): number {
    return this.writes.size + this.reads.size + this.readyReads.length;
  }
}
