import type { Db } from './open-database';
import { prepared } from './statements';

/**
 * The audit log (docs/security.md, "Audit"): every write request this node
 * received, allowed or refused. Node-local, never replicated: a refused
 * request from someone without a token must not be able to grow the Raft
 * log, and the record of a request belongs with the node that saw where it
 * came from. Bounded to AUDIT_MAX_ROWS rows, oldest first out.
 */
export const AUDIT_MAX_ROWS = 10_000;

export interface AuditRecord {
  id: number;
  at: number;
  /** A token's name, `local` for a tokenless loopback client, `anonymous` when no valid token was given. */
  actor: string;
  /** The token's accessor id, when one was presented and known. */
  accessor: string | null;
  method: string;
  path: string;
  /** The service, node or token the request names, when it names one. */
  target: string | null;
  status: number;
  /** The client's address as this node's socket saw it. */
  source: string | null;
}

export type NewAuditRecord = Omit<AuditRecord, 'id'>;

let insertsSincePrune = 0;

export function recordAudit(db: Db, r: NewAuditRecord): void {
  prepared(db, 'INSERT INTO audit_log (at, actor, accessor, method, path, target, status, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
    r.at, r.actor, r.accessor, r.method, r.path, r.target, r.status, r.source,
  );
  // Pruned every hundred rows: the table holds at most AUDIT_MAX_ROWS + 99.
  if (++insertsSincePrune >= 100) {
    insertsSincePrune = 0;
    pruneAudit(db);
  }
}

export function pruneAudit(db: Db, maxRows = AUDIT_MAX_ROWS): void {
  prepared(db, 'DELETE FROM audit_log WHERE id <= (SELECT MAX(id) FROM audit_log) - ?').run(maxRows);
}

/** Records at or after `since` (ms), oldest first, the last `limit` of them. */
export function readAudit(db: Db, options: { since?: number; limit?: number } = {}): AuditRecord[] {
  const rows = prepared(db, 'SELECT * FROM audit_log WHERE at >= ? ORDER BY id DESC LIMIT ?').all(options.since ?? 0, options.limit ?? AUDIT_MAX_ROWS) as AuditRecord[];
  return rows.reverse();
}
