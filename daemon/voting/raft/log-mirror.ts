import { CompactedError, UnavailableError, type InitialState } from './storage';
import type { Entry, HardState, Snapshot } from './types';

/**
 * The read side shared by the storages: hard state, latest snapshot and the
 * log after it, held in memory (the SQLite storage mirrors its tables here so
 * the core's reads never touch the disk). Subclasses set the three fields and
 * keep them true on every write.
 */
export abstract class LogMirror {
  protected hardState!: HardState;
  protected snap!: Snapshot;
  /** log[i] has index snap.meta.index + 1 + i. */
  protected log!: Entry[];

  initialState(): InitialState {
    return { hardState: this.hardState, snapshotConf: this.snap.meta.conf };
  }

  firstIndex(): number {
    return this.snap.meta.index + 1;
  }

  lastIndex(): number {
    return this.snap.meta.index + this.log.length;
  }

  term(index: number): number {
    const offset = this.snap.meta.index;
    if (index < offset) throw new CompactedError(index, offset);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return index === offset ? this.snap.meta.term : this.log[index - offset - 1]!.term;
  }

  entries(lo: number, hi: number): Entry[] {
    const offset = this.snap.meta.index;
    if (lo <= offset) throw new CompactedError(lo, offset);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    return this.log.slice(lo - offset - 1, hi - offset - 1);
  }

  snapshot(): Snapshot {
    return this.snap;
  }
}
