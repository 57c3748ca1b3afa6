import Database from 'better-sqlite3';
import { migrate } from './migrations';

export type Db = Database.Database;

/**
 * Opens the daemon's SQLite database: WAL, a busy timeout so that the four
 * threads' connections wait for each other instead of failing, foreign keys on.
 * Every thread opens its own connection; only the main thread migrates.
 * `file` is on disk (`--store persisted`) or on a RAM filesystem
 * (`--store memory`): the same WAL file either way, never an SQLite
 * in-memory database, which the four connections could not share
 * (docs/database.md, "In memory").
 *
 * The busy timeout only helps a transaction that asks for the write lock
 * before it has read: write with writeTransaction, never with a plain
 * (DEFERRED) `db.transaction`.
 */
export function openDatabase(file: string, options: { migrate?: boolean; busyTimeoutMs?: number } = {}): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  // NORMAL in WAL mode keeps the database consistent across a crash; the Raft
  // log (voting) asks for FULL on its own connection where durability of
  // acknowledged entries matters.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  if (options.migrate) migrate(db);
  return db;
}

/**
 * `fn` as a transaction that begins IMMEDIATE: it takes the write lock at
 * BEGIN, waiting up to the busy timeout for another connection's write.
 *
 * Why not DEFERRED (`db.transaction(fn)()`): in WAL mode a deferred
 * transaction starts as a reader, and when it first writes after reading,
 * SQLite cannot wait for the write lock (its snapshot may already be stale)
 * and fails at once with SQLITE_BUSY, whatever the busy timeout. Every
 * transaction that writes goes through here. Nested inside another
 * transaction it runs as a savepoint, as better-sqlite3's do.
 */
export function writeTransaction<A extends unknown[], R>(db: Db, fn: (...args: A) => R): (...args: A) => R {
  return db.transaction(fn).immediate as (...args: A) => R;
}
