import type { Db } from './open-database';
import { prepared } from './statements';
import type { Command, RequestTag } from './commands';
import { applyCommand, type ApplyResult, type Table } from './apply-command';

/**
 * How long a request id is remembered, in log entries: a command whose id
 * was applied within the last REQUEST_MEMORY_ENTRIES entries is not applied
 * again. A constant of the replicated state machine: every node must use the
 * same, or they would disagree on which retries apply.
 */
export const REQUEST_MEMORY_ENTRIES = 10_000;

interface AppliedRow {
  fingerprint: string;
  result: string;
}

/**
 * Applies a committed command once per request id (Raft thesis §6.3): a
 * command whose `request.id` was applied within the last
 * REQUEST_MEMORY_ENTRIES entries answers that first result (refusals
 * included) and changes nothing; with the same id but another fingerprint it
 * is refused IDEMPOTENCY_KEY_REUSED. Otherwise it is applied and its id and
 * result remembered. A pure function of the log: the window is counted in
 * log indexes and the lookup honours it whether or not old rows have been
 * pruned yet. Must run inside the caller's transaction, like applyCommand.
 */
export function applyOnce(db: Db, command: Command, index: number, touched: Set<Table> = new Set()): ApplyResult {
  const request = command.request;
  if (!request) return applyCommand(db, command, touched);
  const fingerprint = request.fingerprint ?? '';
  const seen = prepared(db, 'SELECT fingerprint, result FROM applied_requests WHERE request_id = ? AND log_index > ?').get(
    request.id,
    index - REQUEST_MEMORY_ENTRIES,
  ) as AppliedRow | undefined;
  if (seen) {
    if (seen.fingerprint === fingerprint) return JSON.parse(seen.result) as ApplyResult;
    return { ok: false, error: { code: 'IDEMPOTENCY_KEY_REUSED', message: reusedMessage(request, seen.fingerprint) } };
  }
  const result = applyCommand(db, command, touched);
  // An id older than the window may still have its row: it is a new request now.
  prepared(
    db,
    `INSERT INTO applied_requests (request_id, fingerprint, log_index, result) VALUES (?, ?, ?, ?)
     ON CONFLICT(request_id) DO UPDATE SET fingerprint = excluded.fingerprint, log_index = excluded.log_index, result = excluded.result`,
  ).run(request.id, fingerprint, index, JSON.stringify(result));
  return result;
}

/** Drops the ids that fell out of the window (a lookup ignores them already, so when this runs changes nothing but size). */
export function forgetOldRequests(db: Db, appliedIndex: number): void {
  prepared(db, 'DELETE FROM applied_requests WHERE log_index <= ?').run(appliedIndex - REQUEST_MEMORY_ENTRIES);
}

/**
 * What this node's replica knows of a request, for a prompt answer before
 * proposing (the apply decides): `new`, `same` (applied, same fingerprint:
 * a retry) or `different` (the id was used for another request, named by
 * `first`, its fingerprint).
 */
export function lookupRequest(db: Db, request: RequestTag, appliedIndex: number): { seen: 'new' | 'same' } | { seen: 'different'; first: string } {
  const row = prepared(db, 'SELECT fingerprint, result FROM applied_requests WHERE request_id = ? AND log_index > ?').get(
    request.id,
    appliedIndex + 1 - REQUEST_MEMORY_ENTRIES,
  ) as AppliedRow | undefined;
  if (!row) return { seen: 'new' };
  if (row.fingerprint === (request.fingerprint ?? '')) return { seen: 'same' };
  return { seen: 'different', first: row.fingerprint };
}

/** `Idempotency-Key k1 was already used for POST /services with another body; a different request needs a new key`. */
export function reusedMessage(request: RequestTag, firstFingerprint: string): string {
  const name = request.key !== undefined ? `Idempotency-Key ${request.key}` : `request id ${request.id}`;
  const [method, path] = firstFingerprint.split(' ');
  const [thisMethod, thisPath] = (request.fingerprint ?? '').split(' ');
  const first = method && path ? `${method} ${path}${method === thisMethod && path === thisPath ? ' with another body' : ''}` : 'another request';
  return `${name} was already used for ${first}; a different request needs a new key`;
}
