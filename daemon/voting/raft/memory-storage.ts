import {
  LogGapError,
  SnapshotOutOfDateError,
  UnavailableError,
  confAfter,
  emptyConfState,
  emptyHardState,
  type RaftStorage,
} from './storage';
import type { Entry, HardState, Snapshot } from './types';
import { LogMirror } from './log-mirror';

/**
 * RaftStorage in memory, for tests and the simulator. It "survives a crash"
 * in the sense the simulator needs: the object outlives the Raft node that
 * used it, and a new node started on it sees exactly what was saved.
 */
export class MemoryStorage extends LogMirror implements RaftStorage {
  protected override hardState: HardState = emptyHardState;
  protected override snap: Snapshot = { meta: { index: 0, term: 0, conf: emptyConfState }, data: '' };
  protected override log: Entry[] = [];

  save(hardState: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null): void {
    if (snapshot !== null) {
      if (snapshot.meta.index <= this.snap.meta.index) {
        throw new SnapshotOutOfDateError(snapshot.meta.index, this.snap.meta.index);
      }
      this.snap = snapshot;
      this.log = [];
    }
    if (entries.length > 0) {
      const first = entries[0]!.index;
      if (first <= this.snap.meta.index || first > this.lastIndex() + 1) {
        throw new LogGapError(first, this.firstIndex(), this.lastIndex());
      }
      const keep = first - this.snap.meta.index - 1;
      if (keep < this.log.length) this.log.length = keep;
      for (const entry of entries) this.log.push(entry);
    }
    if (hardState !== null) this.hardState = hardState;
  }

  compact(index: number, data: string): void {
    const offset = this.snap.meta.index;
    if (index <= offset) throw new SnapshotOutOfDateError(index, offset);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    const covered = this.log.slice(0, index - offset);
    const conf = confAfter(this.snap.meta.conf, covered);
    this.snap = { meta: { index, term: this.term(index), conf }, data };
    this.log = this.log.slice(index - offset);
  }
}
