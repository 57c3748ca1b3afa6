import type { ConfState, Entry, HardState, Snapshot } from './types';

/** Base of the storage's named errors; `code` is stable and safe to switch on. */
export class RaftStorageError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'RaftStorageError';
  }
}

/** The asked index lies at or before the snapshot: its entry was compacted away. */
export class CompactedError extends RaftStorageError {
  constructor(index: number, snapshotIndex: number) {
    super('RAFT_COMPACTED', `entry ${index} is compacted (snapshot covers up to ${snapshotIndex})`);
  }
}

/** The asked index lies after the last stored entry. */
export class UnavailableError extends RaftStorageError {
  constructor(index: number, lastIndex: number) {
    super('RAFT_UNAVAILABLE', `entry ${index} is not stored (last index is ${lastIndex})`);
  }
}

/** A snapshot or compaction asked for an index not newer than the current snapshot. */
export class SnapshotOutOfDateError extends RaftStorageError {
  constructor(index: number, snapshotIndex: number) {
    super('RAFT_SNAPSHOT_OUT_OF_DATE', `index ${index} is not after the current snapshot (${snapshotIndex})`);
  }
}

/** Entries to append do not follow the stored log (a gap, or they start before the snapshot). */
export class LogGapError extends RaftStorageError {
  constructor(first: number, firstIndex: number, lastIndex: number) {
    super(
      'RAFT_LOG_GAP',
      `entries starting at ${first} do not fit a log holding ${firstIndex}..${lastIndex}`,
    );
  }
}

/** What a server finds on boot. */
export interface InitialState {
  readonly hardState: HardState;
  /** The membership at the snapshot (empty on a fresh store); log config entries apply on top. */
  readonly snapshotConf: ConfState;
}

/**
 * The persisted part of a Raft server: hard state, log, and the latest
 * snapshot. Reads are synchronous and used by the core; writes are made only
 * by the caller (the voting thread), following the Ready contract.
 *
 * The log holds entries `firstIndex()..lastIndex()`; the entry at
 * `firstIndex() - 1` is the snapshot's last entry, whose term is still known.
 * A fresh store has an empty snapshot at index 0, term 0, and an empty log
 * (`firstIndex() = 1`, `lastIndex() = 0`).
 */
export interface RaftStorage {
  /** Hard state and snapshot membership as last saved (zeros and empty on a fresh store). */
  initialState(): InitialState;

  /**
   * Entries with `lo <= index < hi`, in order.
   * @throws CompactedError if `lo < firstIndex()`
   * @throws UnavailableError if `hi > lastIndex() + 1`
   */
  entries(lo: number, hi: number): Entry[];

  /**
   * The term of the entry at `index`; valid for `firstIndex() - 1 <= index <= lastIndex()`.
   * @throws CompactedError if `index < firstIndex() - 1`
   * @throws UnavailableError if `index > lastIndex()`
   */
  term(index: number): number;

  /** The index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;

  /** The index of the last entry (the snapshot index if the log is empty). */
  lastIndex(): number;

  /** The latest snapshot (index 0 and empty data on a fresh store). */
  snapshot(): Snapshot;

  /**
   * Persist one Ready atomically and durably: when this returns, a crash
   * loses none of it. Order inside: the snapshot replaces the whole log and
   * state (if given); then `entries` are appended, first dropping any stored
   * entries at or after `entries[0].index`; then the hard state is written.
   * @throws LogGapError if entries would leave a gap or start at or before the snapshot
   */
  save(hardState: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null): void;

  /**
   * Take a snapshot of the state machine at `index` (which the caller has
   * applied) holding `data`, and drop the log up to and including `index`.
   * The membership at `index` is worked out from the log. Never compact past
   * the applied index: committed entries not yet applied would be lost.
   * @throws SnapshotOutOfDateError if `index <= snapshot().meta.index`
   * @throws UnavailableError if `index > lastIndex()`
   */
  compact(index: number, data: string): void;
}

/** The membership after `conf` and then each config entry of `entries`, in order. */
export function confAfter(conf: ConfState, entries: readonly Entry[]): ConfState {
  let result = conf;
  for (const entry of entries) {
    if (entry.type === 'config') result = parseConfState(entry.data);
  }
  return result;
}

/** Parse a config entry's data (the JSON of a complete ConfState). */
export function parseConfState(data: string): ConfState {
  const value = JSON.parse(data) as { voters?: unknown; learners?: unknown };
  if (!Array.isArray(value.voters) || !Array.isArray(value.learners)) {
    throw new Error(`config entry data is not a ConfState: ${data}`);
  }
  return { voters: value.voters.map(String), learners: value.learners.map(String) };
}

export const emptyConfState: ConfState = { voters: [], learners: [] };
export const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };
