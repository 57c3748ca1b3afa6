import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './open-database';
import { prepared } from './statements';

/**
 * API tokens (docs/security.md): Nomad's model of a public accessor id and a
 * secret. A token as a client sends it is `BAT1-<accessor>-<secret>`: the
 * accessor (16 hex digits) names the row, the secret (256 random bits,
 * base64url) proves the holder. Only the SHA-256 of the secret is kept, in
 * the replicated `api_tokens` table, the log and snapshots; the secret is
 * shown once, when the token is made.
 */
export type Role = 'read' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['read', 'operator', 'admin'];

export interface TokenRecord {
  accessor: string;
  name: string;
  role: Role;
  /** SHA-256 of the secret, hex. */
  secretHash: string;
  createdAt: number;
  /** ms since the epoch; null: never expires. */
  expiresAt: number | null;
  /** Who made it: a token's name, `local` (a tokenless loopback client), `init` or `bootstrap`. */
  createdBy: string;
}

const TOKEN_PATTERN = /^BAT1-([0-9a-f]{16})-([A-Za-z0-9_-]{43})$/;
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$/;

/** A fresh token: the string to hand out once, and what the log and the table keep of it. */
export function mintToken(): { token: string; accessor: string; secretHash: string } {
  const accessor = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { token: `BAT1-${accessor}-${secret}`, accessor, secretHash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The accessor and secret of a token string, or null when it is not shaped like one. */
export function parseToken(token: string): { accessor: string; secret: string } | null {
  const m = TOKEN_PATTERN.exec(token);
  return m ? { accessor: m[1]!, secret: m[2]! } : null;
}

interface TokenRow {
  accessor: string;
  name: string;
  role: Role;
  secret_hash: string;
  created_at: number;
  expires_at: number | null;
  created_by: string;
}

function toRecord(row: TokenRow): TokenRecord {
  return { accessor: row.accessor, name: row.name, role: row.role, secretHash: row.secret_hash, createdAt: row.created_at, expiresAt: row.expires_at, createdBy: row.created_by };
}

export function getToken(db: Db, accessor: string): TokenRecord | undefined {
  const row = prepared(db, 'SELECT * FROM api_tokens WHERE accessor = ?').get(accessor) as TokenRow | undefined;
  return row ? toRecord(row) : undefined;
}

/** A token by accessor id or by name. */
export function findToken(db: Db, accessorOrName: string): TokenRecord | undefined {
  const row = prepared(db, 'SELECT * FROM api_tokens WHERE accessor = ? OR name = ?').get(accessorOrName, accessorOrName) as TokenRow | undefined;
  return row ? toRecord(row) : undefined;
}

export function listTokens(db: Db): TokenRecord[] {
  return (prepared(db, 'SELECT * FROM api_tokens ORDER BY created_at, name').all() as TokenRow[]).map(toRecord);
}

/** Applies `token.create` (inside the apply transaction); a name or accessor in use is refused TOKEN_EXISTS by the caller. */
export function insertToken(db: Db, t: TokenRecord): boolean {
  const clash = prepared(db, 'SELECT name FROM api_tokens WHERE accessor = ? OR name = ?').get(t.accessor, t.name);
  if (clash) return false;
  prepared(
    db,
    'INSERT INTO api_tokens (accessor, name, role, secret_hash, created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)',
  ).run(t.accessor, t.name, t.role, t.secretHash, t.createdAt, t.expiresAt, t.createdBy);
  return true;
}

export function deleteToken(db: Db, accessor: string): boolean {
  return prepared(db, 'DELETE FROM api_tokens WHERE accessor = ?').run(accessor).changes > 0;
}

/**
 * Tokens minted outside the API (by `bicycled --init` before the threads
 * start, or `bicycled token bootstrap` on the node itself), waiting in this
 * node's local_state until its REST thread proposes them: only their hashes
 * are kept, never the secrets.
 */
export const PENDING_TOKENS_KEY = 'pending_tokens';

export type PendingToken = Omit<TokenRecord, 'createdAt'>;

export function readPendingTokens(db: Db): PendingToken[] {
  const row = prepared(db, 'SELECT value FROM local_state WHERE key = ?').get(PENDING_TOKENS_KEY) as { value: string } | undefined;
  return row ? (JSON.parse(row.value) as PendingToken[]) : [];
}

export function addPendingToken(db: Db, token: PendingToken): void {
  db.transaction(() => {
    const all = [...readPendingTokens(db), token];
    prepared(db, 'INSERT INTO local_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(PENDING_TOKENS_KEY, JSON.stringify(all));
  }).immediate();
}

/** Drops a pending token once it is in the replicated table. */
export function removePendingToken(db: Db, accessor: string): void {
  db.transaction(() => {
    const rest = readPendingTokens(db).filter((t) => t.accessor !== accessor);
    if (rest.length === 0) prepared(db, 'DELETE FROM local_state WHERE key = ?').run(PENDING_TOKENS_KEY);
    else prepared(db, 'UPDATE local_state SET value = ? WHERE key = ?').run(JSON.stringify(rest), PENDING_TOKENS_KEY);
  }).immediate();
}
