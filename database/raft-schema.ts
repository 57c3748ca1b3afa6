import type { Database } from 'better-sqlite3';

/**
 * The Raft log, hard state and snapshot tables (the voting thread's storage,
 * daemon/voting/raft/sqlite-storage.ts, reads and writes them). Here, in the
 * database layer, so that the migrations create them without loading the
 * Raft core into every thread. Idempotent; every table is prefixed `raft_`.
 */
export function createRaftTables(db: Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS raft_hard_state (
      id INTEGER PRIMARY KEY CHECK (id = 0),
      term INTEGER NOT NULL,
      vote TEXT,
      commit_index INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS raft_entries (
      log_index INTEGER PRIMARY KEY,
      term INTEGER NOT NULL,
      type TEXT NOT NULL CHECK (type IN ('normal', 'noop', 'config')),
      data TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS raft_snapshot (
      id INTEGER PRIMARY KEY CHECK (id = 0),
      log_index INTEGER NOT NULL,
      term INTEGER NOT NULL,
      conf TEXT NOT NULL,
      data TEXT NOT NULL
    );
  `);
}
