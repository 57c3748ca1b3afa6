import { writeTransaction, type Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import type { ApplyResult, Table } from '../../database/apply-command';
import { applyOnce, forgetOldRequests } from '../../database/applied-requests';
import { getLocal, setLocal } from '../../database/queries';
import type { Entry, Snapshot } from './raft/index';

/**
 * The replicated tables: what a snapshot holds and what every manager agrees
 * on. `applied_requests` (recent request ids and their results) travels in
 * snapshots too, so a node restored from one still applies a retry once.
 */
export const REPLICATED_TABLES: readonly Table[] = ['meta', 'nodes', 'services', 'service_versions', 'tasks', 'applied_requests'];

export interface AppliedBatch {
  /** Apply results of the normal entries, by log index. */
  results: Map<number, ApplyResult>;
  touched: Set<Table>;
  appliedIndex: number;
}

/**
 * The cluster's replicated state machine: the entity tables of this node's
 * SQLite. Committed entries are applied in one transaction that also records
 * the applied index, so after a crash a node resumes exactly after the last
 * entry it applied, never applying one twice. A command proposed twice (a
 * retried request: two entries with one request id) takes effect once
 * (applyOnce).
 */
export class SqliteStateMachine {
  private readonly applyTx: (entries: readonly Entry[]) => AppliedBatch;
  private readonly restoreTx: (snapshot: Snapshot) => void;

  constructor(private readonly db: Db) {
    this.applyTx = writeTransaction(db, (entries: readonly Entry[]) => {
      const touched = new Set<Table>();
      const results = new Map<number, ApplyResult>();
      let appliedIndex = this.appliedIndex();
      for (const entry of entries) {
        if (entry.index <= appliedIndex) continue;
        if (entry.type === 'normal') results.set(entry.index, applyOnce(db, JSON.parse(entry.data) as Command, entry.index, touched));
        appliedIndex = entry.index;
      }
      forgetOldRequests(db, appliedIndex);
      setLocal(db, 'applied_index', String(appliedIndex));
      return { results, touched, appliedIndex };
    });
    this.restoreTx = writeTransaction(db, (snapshot: Snapshot) => {
      const data = JSON.parse(snapshot.data) as Record<string, Record<string, unknown>[]>;
      // Children first on delete, parents first on insert (tasks reference services).
      for (const table of [...REPLICATED_TABLES].reverse()) db.prepare(`DELETE FROM ${table}`).run();
      for (const table of REPLICATED_TABLES) {
        for (const row of data[table] ?? []) {
          const columns = Object.keys(row);
          db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => '@' + c).join(', ')})`).run(row);
        }
      }
      setLocal(db, 'applied_index', String(snapshot.meta.index));
    });
  }

  appliedIndex(): number {
    return Number(getLocal(this.db, 'applied_index') ?? 0);
  }

  /** Applies committed entries (already-applied ones are skipped). */
  apply(entries: readonly Entry[]): AppliedBatch {
    return this.applyTx(entries);
  }

  /** The replicated tables as JSON, for a snapshot at the current applied index. */
  snapshotData(): string {
    const data: Record<string, unknown[]> = {};
    for (const table of REPLICATED_TABLES) data[table] = this.db.prepare(`SELECT * FROM ${table}`).all();
    return JSON.stringify(data);
  }

  /** Replaces the replicated tables with a snapshot's. */
  restore(snapshot: Snapshot): void {
    this.restoreTx(snapshot);
  }
}
