import { resolveConfig, type RaftConfig, type ResolvedRaftConfig } from './config';
import { Progress } from './progress';
import { RaftLog } from './raft-log';
import { ReadOnlyQueue } from './read-only';
import type {
  ConfState,
  HardState,
  Message,
  NodeId,
  ReadState,
  Refusal,
  RefusalCode,
  Role,
  SoftState,
} from './types';

export type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'from' | 'term'> & { term?: number } : never) : never;

/**
 * The state of a Raft node and the helpers every part of it uses. Split from
 * Raft only to keep files short: Raft (raft.ts) holds the public API, ticks,
 * elections and role steps; Replication (replication.ts) both sides of log
 * replication and the commit rule.
 */
export abstract class RaftState {
  readonly id: NodeId;
  protected readonly cfg: ResolvedRaftConfig;
  protected readonly log: RaftLog;
  protected term = 0;
  protected vote: NodeId | null = null;
  protected leader: NodeId | null = null;
  protected role: Role = 'follower';
  protected conf: ConfState = { voters: [], learners: [] };
  protected voters: ReadonlySet<NodeId> = new Set();
  protected progress = new Map<NodeId, Progress>();
  protected votes = new Map<NodeId, boolean>();
  protected electionElapsed = 0;
  protected heartbeatElapsed = 0;
  /** Ticks since learners last had a heartbeat (they get one every learnerHeartbeatTicks). */
  protected learnerHeartbeatElapsed = 0;
  protected randomizedElectionTimeout = 0;
  protected leadTransferee: NodeId | null = null;
  /** Index of the newest config entry this leader appended; a new change waits for its commit. */
  protected pendingConfIndex = 0;
  protected readOnly = new ReadOnlyQueue();
  /** Reads received before this leader committed an entry of its term (thesis §6.4 step 1). */
  protected readsAwaitingCommit: string[] = [];
  protected broadcastPending = false;
  protected msgs: Message[] = [];
  protected readStates: ReadState[] = [];
  protected droppedReads: string[] = [];
  protected prevHardState: HardState;

  /** @throws Error naming the bad option if the config cannot work, or if `applied` lies outside the log */
  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    const { storage } = this.cfg;
    const { hardState } = storage.initialState();
    const snapshotIndex = storage.firstIndex() - 1;
    const applied = this.cfg.applied ?? snapshotIndex;
    if (applied < snapshotIndex || applied > Math.max(hardState.commit, snapshotIndex)) {
      throw new Error(
        `raft config: applied must lie between the snapshot index ${snapshotIndex} and the commit index ${hardState.commit}, got ${applied}`,
      );
    }
    this.log = new RaftLog(storage, Math.max(hardState.commit, snapshotIndex), applied);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.prevHardState = hardState;
    if (storage.lastIndex() === 0 && hardState.term === 0 && this.cfg.peers.length > 0) {
      // Bootstrap: every founding member writes the same entry 1, already committed.
      const conf: ConfState = { voters: [...this.cfg.peers], learners: [...this.cfg.learners] };
      this.log.append([{ index: 1, term: 1, type: 'config', data: JSON.stringify(conf) }]);
      this.term = 1;
      this.log.commitTo(1);
    }
    this.syncConf();
    this.becomeFollower(this.term, null);
  }

  protected abstract becomeFollower(term: number, leader: NodeId | null): void;

  protected committedInTerm(): boolean {
    return this.log.termOrUndefined(this.log.committed) === this.term;
  }


  protected newProgress(id: NodeId, next: number): Progress {
    const pr = new Progress(next, this.cfg.maxInflightMessages);
    if (id === this.id) pr.match = next - 1;
    return pr;
  }

  /** Follow the membership in the log (thesis §4.1: a server uses the latest config in its log). */
  protected syncConf(): void {
    const conf = this.log.conf();
    if (conf === this.conf) return;
    this.conf = conf;
    this.voters = new Set(conf.voters);
    const members = new Set([...conf.voters, ...conf.learners]);
    for (const id of members) {
      if (!this.progress.has(id)) this.progress.set(id, this.newProgress(id, this.log.lastIndex() + 1));
    }
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    if (this.leadTransferee !== null && !this.voters.has(this.leadTransferee)) this.leadTransferee = null;
    if (this.role === 'leader') this.broadcastPending = true;
  }

  // ---- helpers ------------------------------------------------------------

  protected send(m: Outgoing): void {
    this.msgs.push({ ...m, from: this.id, term: m.term ?? this.term } as Message);
  }

  protected refuseUnlessLeader(): Refusal | null {
    if (this.role !== 'leader') return this.refusal('NOT_LEADER', 'proposals go to the leader');
    if (this.leadTransferee !== null) {
      return this.refusal('TRANSFER_IN_PROGRESS', `leadership is being transferred to ${this.leadTransferee}`);
    }
    return null;
  }

  protected refusal(code: RefusalCode, message: string): Refusal {
    return { ok: false, code, message, leader: this.leader };
  }

  protected hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  protected softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }
}


export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

