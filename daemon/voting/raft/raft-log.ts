import { CompactedError, UnavailableError, confAfter, emptyConfState, type RaftStorage } from './storage';
import type { ConfState, Entry, Snapshot } from './types';

/** Thrown when the core would break a Raft invariant; it means a bug, never bad input. */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftInvariantError';
  }
}

/**
 * The log as the core sees it: what stable storage holds, overlaid by the
 * entries (and possibly a snapshot) appended since the last Ready was
 * persisted. Also tracks the commit and applied indexes, and the membership
 * in effect, which is the latest config entry in the log, committed or not
 * (Raft thesis §4.1).
 */
export class RaftLog {
  committed: number;
  applied: number;
  /** A received snapshot not yet persisted; while set it replaces the stored log. */
  private unstableSnapshot: Snapshot | null = null;
  /** Entries not yet persisted; unstable[i] has index `offset + i`. */
  private unstable: Entry[] = [];
  private offset: number;
  /** Config entries in the log after the base membership, in index order. */
  private confs: Array<{ index: number; conf: ConfState }> = [];
  private baseConf: ConfState;

  constructor(private readonly storage: RaftStorage, committed: number, applied: number) {
    this.offset = storage.lastIndex() + 1;
    this.committed = committed;
    this.applied = applied;
    this.baseConf = storage.initialState().snapshotConf;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    for (const entry of last >= first ? storage.entries(first, last + 1) : []) {
      if (entry.type === 'config') this.confs.push({ index: entry.index, conf: confAfter(emptyConfState, [entry]) });
    }
  }

  /** The membership in effect: that of the last config entry, else of the snapshot. */
  conf(): ConfState {
    return this.confs.length > 0 ? this.confs[this.confs.length - 1]!.conf : this.baseConf;
  }

  /** The index of the config entry in effect (0 if it comes from the snapshot). */
  confIndex(): number {
    return this.confs.length > 0 ? this.confs[this.confs.length - 1]!.index : 0;
  }

  firstIndex(): number {
    return this.unstableSnapshot !== null ? this.unstableSnapshot.meta.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.offset + this.unstable.length - 1;
    return this.unstableSnapshot !== null ? this.unstableSnapshot.meta.index : this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /**
   * The term of the entry at `index`.
   * @throws CompactedError before the snapshot, UnavailableError after the last entry
   */
  term(index: number): number {
    const dummy = this.firstIndex() - 1;
    if (index < dummy) throw new CompactedError(index, dummy);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    if (this.unstable.length > 0 && index >= this.offset) return this.unstable[index - this.offset]!.term;
    if (this.unstableSnapshot !== null) return this.unstableSnapshot.meta.term;
    return this.storage.term(index);
  }

  /** The term at `index`, or undefined when it is compacted or not there. */
  termOrUndefined(index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    return this.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.termOrUndefined(index) === term;
  }

  /**
   * Entries with `lo <= index < hi`.
   * @throws CompactedError if `lo` is compacted
   */
  entries(lo: number, hi: number): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw new CompactedError(lo, this.firstIndex() - 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const fromStorage = lo < this.offset ? this.storage.entries(lo, Math.min(hi, this.offset)) : [];
    if (hi <= this.offset) return fromStorage;
    const fromUnstable = this.unstable.slice(Math.max(lo, this.offset) - this.offset, hi - this.offset);
    return fromStorage.length === 0 ? fromUnstable : fromStorage.concat(fromUnstable);
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as this one? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The follower side of AppendEntries (Raft §5.3): if the log holds an entry
   * at (prevIndex, prevTerm), drop any conflicting suffix, append the new
   * entries, advance commit, and return the last index now known to match
   * the leader. Returns null when the consistency check fails.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, entries: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    let start = 0;
    while (start < entries.length && this.matchTerm(entries[start]!.index, entries[start]!.term)) start += 1;
    if (start < entries.length) {
      const conflict = entries[start]!.index;
      if (conflict <= this.committed) {
        throw new RaftInvariantError(`entry ${conflict} conflicts with committed entry (commit ${this.committed})`);
      }
      this.append(entries.slice(start));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Append entries after `entries[0].index - 1`, dropping whatever followed it. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const after = entries[0]!.index;
    if (after <= this.committed) {
      throw new RaftInvariantError(`append at ${after} would overwrite committed entries (commit ${this.committed})`);
    }
    const end = this.offset + this.unstable.length;
    if (after > end) {
      throw new RaftInvariantError(`append at ${after} leaves a gap after ${end - 1}`);
    }
    if (after === end) {
      for (const entry of entries) this.unstable.push(entry);
    } else if (after <= this.offset) {
      // Replacing stored entries too: storage drops them when this is persisted.
      this.offset = after;
      this.unstable = entries.slice();
    } else {
      this.unstable = this.unstable.slice(0, after - this.offset).concat(entries);
    }
    while (this.confs.length > 0 && this.confs[this.confs.length - 1]!.index >= after) this.confs.pop();
    for (const entry of entries) {
      if (entry.type === 'config') this.confs.push({ index: entry.index, conf: confAfter(emptyConfState, [entry]) });
    }
  }

  /**
   * Leader fast back-off (etcd-style): the largest index <= `index` whose term
   * is <= `term`, with its term (0 if unknown because compacted).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let at = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.termOrUndefined(at);
      if (t === undefined) return { index: at, term: 0 };
      if (t <= term) return { index: at, term: t };
      at -= 1;
    }
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${index} is past the last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  /** Raft §5.4.2: commit `index` only if its entry is of the leader's current `term`. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.termOrUndefined(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Replace the whole log by a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    this.unstableSnapshot = snapshot;
    this.unstable = [];
    this.offset = snapshot.meta.index + 1;
    this.committed = snapshot.meta.index;
    this.baseConf = snapshot.meta.conf;
    this.confs = [];
  }

  /** The snapshot a lagging follower should get (the received one if not yet persisted). */
  snapshot(): Snapshot {
    return this.unstableSnapshot ?? this.storage.snapshot();
  }

  pendingSnapshot(): Snapshot | null {
    return this.unstableSnapshot;
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable;
  }

  hasUnstable(): boolean {
    return this.unstable.length > 0 || this.unstableSnapshot !== null;
  }

  /** Committed entries not yet applied (after any pending snapshot), at most `max`, and no more than `maxBytes` of data after the first. */
  nextCommittedEntries(max: number, maxBytes = Infinity): Entry[] {
    const lo = Math.max(this.applied, this.unstableSnapshot?.meta.index ?? 0) + 1;
    if (lo > this.committed) return [];
    const entries = this.entries(lo, Math.min(this.committed, lo + max - 1) + 1);
    let bytes = 0;
    let fit = 0;
    while (fit < entries.length && (fit === 0 || bytes + entries[fit]!.data.length <= maxBytes)) bytes += entries[fit++]!.data.length;
    return fit === entries.length ? entries : entries.slice(0, fit);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.unstableSnapshot?.meta.index ?? 0);
  }

  /** Entries up to (index, term) were persisted; they leave the unstable part. */
  stableTo(index: number, term: number): void {
    if (index < this.offset || index >= this.offset + this.unstable.length) return;
    if (this.unstable[index - this.offset]!.term !== term) return; // overwritten meanwhile
    this.unstable = this.unstable.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot !== null && this.unstableSnapshot.meta.index === index) this.unstableSnapshot = null;
  }

  appliedTo(index: number): void {
    if (index > this.committed) {
      throw new RaftInvariantError(`applied ${index} is past commit ${this.committed}`);
    }
    if (index > this.applied) this.applied = index;
  }
}
