import Database from 'better-sqlite3';
import { migrate } from './migrations';

export type Db = Database.Database;

/**
 * Opens the daemon's SQLite database: WAL, a busy timeout so that the four
 * threads' connections wait for each other instead of failing, foreign keys on.
 * Every thread opens its own connection; only the main thread migrates.
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
