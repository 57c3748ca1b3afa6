import type { Entry, NodeId, Raft, RaftStorage } from '../../daemon/voting/raft';

/** A broken Raft guarantee, found by the simulator. */
export class InvariantViolation extends Error {
  constructor(readonly invariant: string, detail: string) {
    super(`${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/**
 * The safety properties of Raft (paper §5, Figure 3), checked incrementally
 * as the simulation runs, so each check costs little and runs after every
 * step of every node:
 * - election safety: at most one leader per term;
 * - log matching: an entry is identified by (index, term): its content and
 *   the term of the entry before it are the same on every server, so two logs
 *   with an entry of the same index and term are identical up to it;
 * - leader completeness: a new leader holds every committed entry;
 * - state machine safety: no two servers apply different entries at an index.
 */
export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** `${index}:${term}` -> what any server persisted there, and the term before it. */
  private readonly entries = new Map<string, { type: string; data: string; prevTerm: number }>();
  /** Index -> the entry applied there (as "term|type|data"), by whichever server applied it first. */
  private readonly applied: string[] = [];
  /** The highest commit index any server has persisted. */
  maxCommit = 0;

  observeLeader(id: NodeId, term: number): void {
    const other = this.leaderOfTerm.get(term);
    if (other === undefined) this.leaderOfTerm.set(term, id);
    else if (other !== id) throw new InvariantViolation('election safety', `${other} and ${id} both led term ${term}`);
  }

  /** Entries `node` just persisted (its storage already holds them). */
  observePersisted(node: NodeId, storage: RaftStorage, entries: readonly Entry[]): void {
    for (const e of entries) {
      const prevTerm = storage.term(e.index - 1);
      const key = `${e.index}:${e.term}`;
      const seen = this.entries.get(key);
      if (seen === undefined) {
        this.entries.set(key, { type: e.type, data: e.data, prevTerm });
      } else if (seen.data !== e.data || seen.type !== e.type || seen.prevTerm !== prevTerm) {
        throw new InvariantViolation(
          'log matching',
          `${node} holds entry ${key} as ${e.type} "${e.data}" after term ${prevTerm}; elsewhere it is ${seen.type} "${seen.data}" after term ${seen.prevTerm}`,
        );
      }
    }
  }

  observeCommit(commit: number): void {
    if (commit > this.maxCommit) this.maxCommit = commit;
  }

  observeApplied(node: NodeId, e: Entry): void {
    const key = `${e.term}|${e.type}|${e.data}`;
    const seen = this.applied[e.index];
    if (seen === undefined) this.applied[e.index] = key;
    else if (seen !== key) {
      throw new InvariantViolation('state machine safety', `${node} applied ${key} at ${e.index}; another server applied ${seen}`);
    }
  }

  /** The term of the committed entry at `index`, if some server applied it. */
  committedTerm(index: number): number | undefined {
    const key = this.applied[index];
    return key === undefined ? undefined : Number(key.slice(0, key.indexOf('|')));
  }

  /** Leader completeness, checked when `raft` has just become leader. */
  checkLeaderCompleteness(raft: Raft, firstIndex: number): void {
    const { lastIndex, term } = raft.basicStatus();
    if (lastIndex < this.maxCommit) {
      throw new InvariantViolation('leader completeness', `${raft.id} leads term ${term} with log ending at ${lastIndex}, but ${this.maxCommit} is committed`);
    }
    const lo = Math.max(firstIndex, 1);
    if (lo > this.maxCommit) return;
    const log = raft.entries(lo, this.maxCommit + 1);
    for (const e of log) {
      const want = this.committedTerm(e.index);
      if (want !== undefined && want !== e.term) {
        throw new InvariantViolation('leader completeness', `${raft.id} leads term ${term} with entry ${e.index} of term ${e.term}, but term ${want} is committed there`);
      }
    }
  }
}

/** Full log matching between two servers' logs (used at the end of a run). */
export function checkLogsMatch(a: Raft, b: Raft, firstA: number, firstB: number): void {
  const lo = Math.max(firstA, firstB);
  const hi = Math.min(a.basicStatus().lastIndex, b.basicStatus().lastIndex);
  if (lo > hi) return;
  const la = a.entries(lo, hi + 1);
  const lb = b.entries(lo, hi + 1);
  // Find the highest index where both agree on the term; everything up to it must be identical.
  let top = -1;
  for (let i = la.length - 1; i >= 0; i--) {
    if (la[i]!.term === lb[i]!.term) {
      top = i;
      break;
    }
  }
  for (let i = 0; i <= top; i++) {
    const x = la[i]!;
    const y = lb[i]!;
    if (x.term !== y.term || x.type !== y.type || x.data !== y.data) {
      throw new InvariantViolation('log matching', `${a.id} and ${b.id} agree at ${lo + top} but differ at ${x.index}`);
    }
  }
}
