import type { Entry, SnapshotMeta } from './types';

/** How a proposal ended. `unknown`: a snapshot covered it, so its entry's term is gone. */
export type ProposalOutcome = 'committed' | 'lost' | 'unknown';

/**
 * Tells the proposer whether its proposal committed or was lost to a leader
 * change. An accepted proposal sits at (index, term); exactly one entry ever
 * commits at `index` (state machine safety), so when the caller applies the
 * entry at `index`, the proposal committed if that entry's term is `term`, and
 * was lost otherwise. A snapshot installed over `index` hides the entry, so the
 * outcome is `unknown` and the caller must treat the command as maybe-applied
 * (commands should be idempotent or carry a request id).
 *
 * A proposal on a leader that is then cut off stays pending until this node
 * learns the entry committed at its index; the caller should also give up
 * after its own timeout.
 */
export class ProposalTracker<T> {
  private pending = new Map<number, { term: number; handle: T }>();

  /** Remember an accepted proposal; `handle` is given back with its outcome. */
  track(index: number, term: number, handle: T): void {
    const earlier = this.pending.get(index);
    this.pending.set(index, { term, handle });
    if (earlier !== undefined && earlier.term !== term) this.onSettled?.(earlier.handle, 'lost');
  }

  /** Called with each outcome as it becomes known. */
  onSettled: ((handle: T, outcome: ProposalOutcome) => void) | null = null;

  /** Feed every applied entry, in order. */
  applied(entry: Entry): void {
    const p = this.pending.get(entry.index);
    if (p === undefined) return;
    this.pending.delete(entry.index);
    this.onSettled?.(p.handle, p.term === entry.term ? 'committed' : 'lost');
  }

  /** Feed every snapshot restored into the state machine. */
  restored(meta: SnapshotMeta): void {
    for (const [index, p] of this.pending) {
      if (index > meta.index) continue;
      this.pending.delete(index);
      this.onSettled?.(p.handle, index === meta.index && p.term === meta.term ? 'committed' : 'unknown');
    }
  }

  /** Give up on every pending proposal (e.g. on shutdown); returns their handles. */
  drain(): T[] {
    const handles = [...this.pending.values()].map((p) => p.handle);
    this.pending.clear();
    return handles;
  }

  get size(): number {
    return this.pending.size;
  }
}
