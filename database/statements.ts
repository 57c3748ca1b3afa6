import type { Statement } from 'better-sqlite3';
import type { Db } from './open-database';

const cache = new WeakMap<Db, Map<string, Statement>>();

/**
 * The prepared statement for `sql` on this connection, compiled once: SQLite
 * compiling a statement costs more than running a small one, and the apply
 * path runs the same few statements for every command.
 */
export function prepared(db: Db, sql: string): Statement {
  let statements = cache.get(db);
  if (!statements) cache.set(db, (statements = new Map()));
  let statement = statements.get(sql);
  if (!statement) statements.set(sql, (statement = db.prepare(sql)));
  return statement;
}
