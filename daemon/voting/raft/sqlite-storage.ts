import type { Database, Statement } from 'better-sqlite3';
import {
  LogGapError,
  emptyConfState,
  parseConfState,
  type RaftStorage,
} from './storage';
import type { Entry, EntryType, HardState, Snapshot } from './types';
import { LogMirror } from './log-mirror';
import { createRaftTables } from '../../../database/raft-schema';

export { createRaftTables };

interface EntryRow {
  log_index: number;
  term: number;
  type: EntryType;
  data: string;
}

/**
 * How much entry data (characters of the commands' JSON) the in-memory log
 * holds, newest entries first: one batch can be several MiB (a pruning
 * pass's 90,000 `task.remove`), and compaction bounds the log by count.
 */
export const MIRRORED_DATA_CHARS = 4 * 2 ** 20;

/**
 * RaftStorage on a better-sqlite3 connection shared with the daemon's other
 * tables. Each `save` is one transaction (snapshot, entries and hard state
 * together), and the connection is set to `synchronous = FULL`, so a saved
 * Ready survives a crash or power loss. The log since the last snapshot is
 * also kept in memory so the core's reads seldom touch the disk: every
 * entry's index, term and type, and the data of the newest entries up to
 * `mirroredDataChars`; older entries' data is read back when asked for (a
 * lagging follower's catch-up). Compact regularly to bound the log.
 *
 * The connection must be used by one thread only (better-sqlite3 handles are
 * not shareable), and nothing else may write the `raft_` tables.
 */
export class SqliteRaftStorage extends LogMirror implements RaftStorage {
  private readonly stmt: {
    putHardState: Statement;
    putSnapshot: Statement;
    deleteFrom: Statement;
    deleteUpTo: Statement;
    insertEntry: Statement;
  };
  private readonly saveTx: (hs: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null) => void;
  private readonly compactTx: (snapshot: Snapshot) => void;
  private readonly snapshotData: Statement;
  private readonly entryData: Statement;
  /** Entries up to this index hold no data in the mirror (it is on disk); later ones hold theirs, `heldChars` in all. */
  private releasedThrough = 0;
  private heldChars = 0;

  constructor(db: Database, private readonly mirroredDataChars = MIRRORED_DATA_CHARS) {
    super();
    createRaftTables(db);
    db.pragma('synchronous = FULL');
    const hs = db.prepare('SELECT term, vote, commit_index FROM raft_hard_state WHERE id = 0').get() as
      | { term: number; vote: string | null; commit_index: number }
      | undefined;
    this.hardState = hs === undefined ? { term: 0, vote: null, commit: 0 } : { term: hs.term, vote: hs.vote, commit: hs.commit_index };
    // The snapshot's data (every replicated table as JSON: tens of MiB in a large cluster) stays on disk;
    // snapshot() reads it when a follower needs it. The mirror keeps its metadata only.
    const snap = db.prepare('SELECT log_index, term, conf FROM raft_snapshot WHERE id = 0').get() as
      | { log_index: number; term: number; conf: string }
      | undefined;
    this.snap =
      snap === undefined
        ? { meta: { index: 0, term: 0, conf: emptyConfState }, data: '' }
        : { meta: { index: snap.log_index, term: snap.term, conf: parseConfState(snap.conf) }, data: '' };
    this.snapshotData = db.prepare('SELECT data FROM raft_snapshot WHERE id = 0 AND log_index = ?').pluck();
    const rows = db
      .prepare('SELECT log_index, term, type, data FROM raft_entries WHERE log_index > ? ORDER BY log_index')
      .all(this.snap.meta.index) as EntryRow[];
    this.log = rows.map((r) => ({ index: r.log_index, term: r.term, type: r.type, data: r.data }));
    this.log.forEach((entry, i) => {
      if (entry.index !== this.snap.meta.index + 1 + i) {
        throw new LogGapError(entry.index, this.snap.meta.index + 1, this.snap.meta.index + i);
      }
    });
    this.entryData = db.prepare('SELECT data FROM raft_entries WHERE log_index BETWEEN ? AND ? ORDER BY log_index').pluck();
    this.recount();
    this.stmt = {
      putHardState: db.prepare(
        'INSERT INTO raft_hard_state (id, term, vote, commit_index) VALUES (0, ?, ?, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET term = excluded.term, vote = excluded.vote, commit_index = excluded.commit_index',
      ),
      putSnapshot: db.prepare(
        'INSERT INTO raft_snapshot (id, log_index, term, conf, data) VALUES (0, ?, ?, ?, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET log_index = excluded.log_index, term = excluded.term, conf = excluded.conf, data = excluded.data',
      ),
      deleteFrom: db.prepare('DELETE FROM raft_entries WHERE log_index >= ?'),
      deleteUpTo: db.prepare('DELETE FROM raft_entries WHERE log_index <= ?'),
      insertEntry: db.prepare('INSERT INTO raft_entries (log_index, term, type, data) VALUES (?, ?, ?, ?)'),
    };
    // IMMEDIATE: take the write lock at BEGIN, so the busy timeout applies (docs/database.md).
    this.saveTx = immediate(db, (hs: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null) => {
      if (snapshot !== null) {
        this.putSnapshot(snapshot);
        this.stmt.deleteFrom.run(0);
      }
      if (entries.length > 0) {
        this.stmt.deleteFrom.run(entries[0]!.index);
        for (const e of entries) this.stmt.insertEntry.run(e.index, e.term, e.type, e.data);
      }
      if (hs !== null) this.stmt.putHardState.run(hs.term, hs.vote, hs.commit);
    });
    this.compactTx = immediate(db, (snapshot: Snapshot) => {
      this.putSnapshot(snapshot);
      this.stmt.deleteUpTo.run(snapshot.meta.index);
    });
  }

  save(hardState: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null): void {
    this.checkSave(entries, snapshot);
    this.saveTx(hardState, entries, snapshot);
    // The transaction committed: mirror it in memory (the snapshot's data stays on disk).
    const overwrites = entries.length > 0 && entries[0]!.index <= this.lastIndex();
    if (snapshot !== null) this.releasedThrough = snapshot.meta.index;
    if (overwrites) this.releasedThrough = Math.min(this.releasedThrough, entries[0]!.index - 1);
    this.mirrorSave(hardState, entries, snapshot === null ? null : { meta: snapshot.meta, data: '' });
    if (snapshot !== null || overwrites) this.recount();
    else for (const e of entries) this.heldChars += e.data.length;
    this.releaseOverBound();
  }

  /** As the mirror's, with the data of released entries read back from disk. */
  override entries(lo: number, hi: number): Entry[] {
    const entries = super.entries(lo, hi);
    if (lo > this.releasedThrough || entries.length === 0) return entries;
    const upTo = Math.min(hi - 1, this.releasedThrough);
    const data = this.entryData.all(lo, upTo) as string[];
    return entries.map((e, i) => (i < data.length ? { ...e, data: data[i]! } : e));
  }

  /** The latest snapshot, its data read from disk: it is not kept in memory between sends. */
  override snapshot(): Snapshot {
    const meta = this.snap.meta;
    if (meta.index === 0) return this.snap;
    return { meta, data: (this.snapshotData.get(meta.index) as string | undefined) ?? '' };
  }

  compact(index: number, data: string): void {
    const snapshot = this.compactedSnapshot(index, data);
    this.compactTx(snapshot);
    this.mirrorCompact({ meta: snapshot.meta, data: '' });
    this.recount();
  }

  /** Works out `releasedThrough` and `heldChars` again after the log lost entries (compaction, a snapshot, an overwritten suffix). */
  private recount(): void {
    const offset = this.snap.meta.index;
    this.releasedThrough = Math.min(Math.max(this.releasedThrough, offset), this.lastIndex());
    this.heldChars = 0;
    for (let i = this.releasedThrough - offset; i < this.log.length; i++) this.heldChars += this.log[i]!.data.length;
    this.releaseOverBound();
  }

  /**
   * Drops the data of the oldest held entries until the rest fit the bound.
   * The entry objects are the core's too: replaced, not changed. A config
   * entry keeps its data (a few bytes): compaction reads the membership
   * from the mirror.
   */
  private releaseOverBound(): void {
    const offset = this.snap.meta.index;
    while (this.heldChars > this.mirroredDataChars && this.releasedThrough < this.lastIndex()) {
      const i = this.releasedThrough - offset;
      const entry = this.log[i]!;
      this.heldChars -= entry.data.length;
      if (entry.type !== 'config') this.log[i] = { ...entry, data: '' };
      this.releasedThrough++;
    }
  }

  private putSnapshot(s: Snapshot): void {
    this.stmt.putSnapshot.run(s.meta.index, s.meta.term, JSON.stringify(s.meta.conf), s.data);
  }
}

/** `fn` as a transaction begun IMMEDIATE (the storage takes a bare better-sqlite3 handle, so it does not import the daemon's helper). */
function immediate<A extends unknown[]>(db: Database, fn: (...args: A) => void): (...args: A) => void {
  return db.transaction(fn).immediate as (...args: A) => void;
}
