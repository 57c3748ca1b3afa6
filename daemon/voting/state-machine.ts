import { performance } from 'node:perf_hooks';
import type { Statement } from 'better-sqlite3';
import { writeTransaction, type Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import type { ApplyResult, Table } from '../../database/apply-command';
import { applyOnce, forgetOldRequests } from '../../database/applied-requests';
import { getLocal, setLocal } from '../../database/queries';
import type { Entry, Snapshot } from './raft/index';
import { forEachSnapshotRow } from './snapshot-rows';

/**
 * The replicated tables: what a snapshot holds and what every manager agrees
 * on. `applied_requests` (recent request ids and their results) travels in
 * snapshots too, so a node restored from one still applies a retry once.
 */
export const REPLICATED_TABLES: readonly Table[] = ['meta', 'nodes', 'services', 'service_versions', 'tasks', 'applied_requests', 'api_tokens', 'secrets', 'secret_versions'];

export interface AppliedBatch {
  /** Apply results of the normal entries, by log index. */
  results: Map<number, ApplyResult>;
  touched: Set<Table>;
  appliedIndex: number;
}

/**
 * Per replicated table, the query of its rows as JSON objects (json_object
 * of every column, in order). The tables hold integers, text and nulls (no
 * reals, no blobs), which json_object writes as JSON.stringify does.
 */
function rowJsonQueries(db: Db): { table: string; sql: string }[] {
  return REPLICATED_TABLES.map((table) => {
    const columns = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[];
    return { table, sql: `SELECT json_object(${columns.map((c) => `'${c}', "${c}"`).join(', ')}) FROM ${table}` };
  });
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
  /** Prepared at the first snapshot: the columns are the schema's once migrated. */
  private snapshotRows: { table: string; rows: Statement }[] | undefined;

  /** `onApplied`, when given, hears the type and duration (seconds) of every command applied, inside its transaction. */
  constructor(private readonly db: Db, onApplied?: (command: string, seconds: number) => void) {
    this.applyTx = writeTransaction(db, (entries: readonly Entry[]) => {
      const touched = new Set<Table>();
      const results = new Map<number, ApplyResult>();
      let appliedIndex = this.appliedIndex();
      for (const entry of entries) {
        if (entry.index <= appliedIndex) continue;
        if (entry.type === 'normal') {
          const started = onApplied ? performance.now() : 0;
          const command = JSON.parse(entry.data) as Command;
          results.set(entry.index, applyOnce(db, command, entry.index, touched));
          onApplied?.(command.type, (performance.now() - started) / 1000);
        }
        appliedIndex = entry.index;
      }
      forgetOldRequests(db, appliedIndex);
      setLocal(db, 'applied_index', String(appliedIndex));
      return { results, touched, appliedIndex };
    });
    this.restoreTx = writeTransaction(db, (snapshot: Snapshot) => {
      // Children first on delete; rows go in in the snapshot's order, which is REPLICATED_TABLES' (parents first: tasks reference services).
      for (const table of [...REPLICATED_TABLES].reverse()) db.prepare(`DELETE FROM ${table}`).run();
      // One row parsed at a time (not the whole snapshot as objects), one compiled INSERT per table and column list.
      const replicated = new Set<string>(REPLICATED_TABLES);
      const inserts = new Map<string, Statement>();
      forEachSnapshotRow(snapshot.data, (table, row) => {
        if (!replicated.has(table)) return;
        const columns = Object.keys(row);
        const key = `${table}(${columns.join(',')})`;
        let insert = inserts.get(key);
        if (!insert) {
          insert = db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => '@' + c).join(', ')})`);
          inserts.set(key, insert);
        }
        insert.run(row);
      });
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

  /**
   * The replicated tables as JSON, for a snapshot at the current applied
   * index: `{ "<table>": [row, ...], ... }`, each row an object of its
   * columns, the text JSON.stringify of `SELECT *` would give. SQLite writes
   * each row's JSON and the rows are joined once: no object per row (60,000
   * tasks were about 30 MiB of row objects at each snapshot), and no JSON
   * aggregate in SQLite, which reallocates the whole text as it grows.
   */
  snapshotData(): string {
    this.snapshotRows ??= rowJsonQueries(this.db).map(({ table, sql }) => ({ table, rows: this.db.prepare(sql).pluck() }));
    const parts: string[] = [];
    for (const { table, rows } of this.snapshotRows) {
      parts.push(`${parts.length === 0 ? '{' : '],'}${JSON.stringify(table)}:[`);
      let first = true;
      for (const row of rows.iterate() as IterableIterator<string>) {
        parts.push(first ? row : `,${row}`);
        first = false;
      }
    }
    parts.push(']}');
    return parts.join('');
  }

  /** Replaces the replicated tables with a snapshot's. */
  restore(snapshot: Snapshot): void {
    this.restoreTx(snapshot);
  }
}
