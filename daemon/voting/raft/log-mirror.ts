import { CompactedError, LogGapError, SnapshotOutOfDateError, UnavailableError, confAfter, type InitialState } from './storage';
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

  /**
   * Checks a save before anything is written.
   * @throws SnapshotOutOfDateError if the snapshot is not newer than the one held
   * @throws LogGapError if the entries do not follow the log (after the snapshot, if any)
   */
  protected checkSave(entries: readonly Entry[], snapshot: Snapshot | null): void {
    if (snapshot !== null && snapshot.meta.index <= this.snap.meta.index) {
      throw new SnapshotOutOfDateError(snapshot.meta.index, this.snap.meta.index);
    }
    const snapIndex = snapshot !== null ? snapshot.meta.index : this.snap.meta.index;
    const last = snapshot !== null ? snapIndex : this.lastIndex();
    if (entries.length > 0) {
      const first = entries[0]!.index;
      if (first <= snapIndex || first > last + 1) throw new LogGapError(first, snapIndex + 1, last);
    }
  }

  /**
   * The snapshot that compacting up to `index` makes (the membership replayed over the covered entries).
   * @throws SnapshotOutOfDateError if `index` is already compacted
   * @throws UnavailableError if `index` is past the log
   */
  protected compactedSnapshot(index: number, data: string): Snapshot {
    const offset = this.snap.meta.index;
    if (index <= offset) throw new SnapshotOutOfDateError(index, offset);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    const conf = confAfter(this.snap.meta.conf, this.log.slice(0, index - offset));
    return { meta: { index, term: this.term(index), conf }, data };
  }

  /** Mirrors a save that was checked and made durable: a snapshot replaces the log, entries overwrite from their first index. */
  protected mirrorSave(hardState: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null): void {
    if (snapshot !== null) {
      this.snap = snapshot;
      this.log = [];
    }
    if (entries.length > 0) {
      const keep = entries[0]!.index - this.snap.meta.index - 1;
      if (keep < this.log.length) this.log.length = keep;
      for (const entry of entries) this.log.push(entry);
    }
    if (hardState !== null) this.hardState = hardState;
  }

  /** Mirrors a compaction up to `index` whose snapshot is durable. */
  protected mirrorCompact(snapshot: Snapshot): void {
    this.log = this.log.slice(snapshot.meta.index - this.snap.meta.index);
    this.snap = snapshot;
  }
}
