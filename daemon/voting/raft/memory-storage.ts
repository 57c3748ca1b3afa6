import {
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
    this.checkSave(entries, snapshot);
    this.mirrorSave(hardState, entries, snapshot);
  }

  compact(index: number, data: string): void {
    this.mirrorCompact(this.compactedSnapshot(index, data));
  }

}
