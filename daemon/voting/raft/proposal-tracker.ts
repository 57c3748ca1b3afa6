import type { Entry, SnapshotMeta } from './types';

/** How a proposal ended. `unknown`: a snapshot covered it, so its entry's term is gone. */
export type ProposalOutcome = 'committed' | 'lost' | 'unknown';

/**
 * Tells the proposer whether its proposal committed or was lost to a leader
 * change. An accepted proposal sits at (index, term). Feed the tracker every
 * entry the state machine applies and every snapshot it restores:
 * - the entry applied at `index` has term `term`: the proposal committed;
 * - an entry applied at `index` or before has a term greater than `term`: the
 *   proposal is lost for good, since terms never decrease along a log and
 *   every later leader holds that committed entry (Raft §5.4), no log that
 *   could ever commit can hold (index, term);
 * - a snapshot covers `index` without deciding the above: `unknown`, and the
 *   caller must treat the command as maybe-applied (commands should be
 *   idempotent or carry a request id).
 * So a proposal lost to a leader change settles as soon as the new leader's
 * no-op entry is applied here. A proposal on a leader that is then cut off
 * stays pending until this node hears from the rest; callers should also give
 * up after their own timeout.
 */
export class ProposalTracker<T> {
  private pending = new Map<number, { term: number; handle: T }>();
  /** The lowest term among pending proposals (a bound; scanning is needed only above it). */
  private minTerm = Infinity;

  /** Called with each outcome as it becomes known. */
  onSettled: ((handle: T, outcome: ProposalOutcome) => void) | null = null;

  /** Remember an accepted proposal; `handle` is given back with its outcome. */
  track(index: number, term: number, handle: T): void {
    const earlier = this.pending.get(index);
    this.pending.set(index, { term, handle });
    if (term < this.minTerm) this.minTerm = term;
    if (earlier !== undefined && earlier.term !== term) this.settle(earlier.handle, 'lost');
  }

  /** Feed every applied entry, in order. */
  applied(entry: Entry): void {
    const p = this.pending.get(entry.index);
    if (p !== undefined) {
      this.pending.delete(entry.index);
      this.settle(p.handle, p.term === entry.term ? 'committed' : 'lost');
    }
    if (entry.term > this.minTerm) this.dropOlderThan(entry.index, entry.term);
  }

  /** Feed every snapshot restored into the state machine. */
  restored(meta: SnapshotMeta): void {
    for (const [index, p] of this.pending) {
      let outcome: ProposalOutcome;
      if (index > meta.index) {
        if (p.term >= meta.term) continue; // still undecided
        outcome = 'lost';
      } else if (index === meta.index) {
        outcome = p.term === meta.term ? 'committed' : 'lost';
      } else {
        // Before the snapshot's last entry terms are at most meta.term; equal ones may or may not be ours.
        outcome = p.term > meta.term ? 'lost' : 'unknown';
      }
      this.pending.delete(index);
      this.settle(p.handle, outcome);
    }
    this.recomputeMinTerm();
  }

  /** Give up on every pending proposal (e.g. on shutdown); returns their handles. */
  drain(): T[] {
    const handles = [...this.pending.values()].map((p) => p.handle);
    this.pending.clear();
    this.minTerm = Infinity;
    return handles;
  }

  get size(): number {
    return this.pending.size;
  }

  /** An entry of `term` committed at `index`: proposals at or after it with a lower term are lost. */
  private dropOlderThan(index: number, term: number): void {
    for (const [i, p] of this.pending) {
      if (i >= index && p.term < term) {
        this.pending.delete(i);
        this.settle(p.handle, 'lost');
      }
    }
    this.recomputeMinTerm();
  }

  private recomputeMinTerm(): void {
    this.minTerm = Infinity;
    for (const p of this.pending.values()) if (p.term < this.minTerm) this.minTerm = p.term;
  }

  private settle(handle: T, outcome: ProposalOutcome): void {
    this.onSettled?.(handle, outcome);
  }
}
