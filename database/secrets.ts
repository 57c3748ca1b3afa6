import type { Db } from './open-database';
import { prepared } from './statements';
import { BicycleError } from './errors';

/**
 * Secrets (docs/security.md, "Secrets"): a named value, sealed before it is
 * proposed (the log, snapshots and SQLite hold only the sealed text), with a
 * version that grows with each new value. A service names the secrets its
 * containers mount; its spec pins each one's version when the spec is made,
 * so a spec version is what its containers get, value included: a new
 * value of a secret makes a new spec version of every service that uses it
 * (rolled out under the update policy), and a rollback to an older spec
 * version mounts the value that version pinned. A secret keeps its current
 * value and every earlier one that a service or a recorded spec version
 * still pins; the others are forgotten.
 */

/** A secret a service mounts, as the user gives it: the secret's name, the file's absolute path in the container, its octal mode. */
export interface SecretRef {
  source: string;
  target: string;
  /** Octal permission bits as text, four digits: "0444". */
  mode: string;
}

/** A SecretRef with the version of the value it mounts. */
export interface PinnedSecretRef extends SecretRef {
  version: number;
}

export interface SecretRecord {
  name: string;
  id: string;
  /** The current value's version (1 for the first). */
  version: number;
  createdAt: number;
  updatedAt: number;
  /** The services whose current spec mounts it, by name. */
  services: string[];
}

export const DEFAULT_SECRET_MODE = '0444';
export const SECRETS_DIR_IN_CONTAINER = '/run/secrets';

/** The target when none is given: /run/secrets/<source>, as Swarm does. */
export function defaultSecretTarget(source: string): string {
  return `${SECRETS_DIR_IN_CONTAINER}/${source}`;
}

function toSecret(db: Db, row: any): SecretRecord {
  return {
    name: row.name,
    id: row.id,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    services: servicesUsingSecret(db, row.name),
  };
}

export function listSecrets(db: Db): SecretRecord[] {
  return (prepared(db, 'SELECT * FROM secrets ORDER BY name').all() as any[]).map((r) => toSecret(db, r));
}

export function getSecret(db: Db, name: string): SecretRecord | undefined {
  const row = prepared(db, 'SELECT * FROM secrets WHERE name = ?').get(name);
  return row ? toSecret(db, row) : undefined;
}

/** The services whose current spec mounts the secret, by name. */
export function servicesUsingSecret(db: Db, name: string): string[] {
  return prepared(db,
    `SELECT DISTINCT s.name FROM services s, json_each(s.secrets) j WHERE json_extract(j.value, '$.source') = ? ORDER BY s.name`,
  ).pluck().all(name) as string[];
}

/** A secret's id and the sealed value of one of its versions; undefined when it (or that version) is not kept. */
export function getSealedSecret(db: Db, name: string, version: number): { id: string; value: string } | undefined {
  return prepared(db,
    'SELECT s.id AS id, v.value AS value FROM secrets s JOIN secret_versions v ON v.secret_name = s.name WHERE s.name = ? AND v.version = ?',
  ).get(name, version) as { id: string; value: string } | undefined;
}

/** Pins each ref to its secret's current version; throws SECRET_NOT_FOUND naming the first that does not exist. */
export function pinSecrets(db: Db, refs: readonly SecretRef[]): PinnedSecretRef[] {
  return refs.map((ref) => {
    const row = prepared(db, 'SELECT version FROM secrets WHERE name = ?').get(ref.source) as { version: number } | undefined;
    if (!row) throw new BicycleError('SECRET_NOT_FOUND', `no secret named ${ref.source} (create it with \`bicycle secret create ${ref.source} FILE\`)`);
    return { source: ref.source, target: ref.target, mode: ref.mode, version: row.version };
  });
}

/** Pinned refs as stored: in order of target, every field in one order, so equal lists compare equal as text. */
export function secretsJson(refs: readonly PinnedSecretRef[]): string {
  const sorted = [...refs].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  return JSON.stringify(sorted.map((r) => ({ source: r.source, target: r.target, mode: r.mode, version: r.version })));
}

export function parseSecretsJson(json: string | null | undefined): PinnedSecretRef[] {
  return json ? (JSON.parse(json) as PinnedSecretRef[]) : [];
}

/** The pinned refs of a recorded spec version again, refusing (SECRET_NOT_FOUND) one whose secret or value is gone. */
export function requirePinnedValues(db: Db, refs: readonly PinnedSecretRef[], what: string): void {
  for (const ref of refs) {
    if (!getSealedSecret(db, ref.source, ref.version)) {
      throw new BicycleError('SECRET_NOT_FOUND', `${what} mounts version ${ref.version} of secret ${ref.source}, which is no longer kept (the secret was removed)`);
    }
  }
}

/** Applies secret.create: a new secret at version 1. */
export function createSecret(db: Db, c: { id: string; name: string; value: string; at: number }): boolean {
  if (prepared(db, 'SELECT 1 FROM secrets WHERE name = ?').get(c.name)) {
    throw new BicycleError('SECRET_EXISTS', `a secret named ${c.name} already exists (give it a new value with \`bicycle secret update ${c.name} FILE\`)`);
  }
  prepared(db, 'INSERT INTO secrets (name, id, version, created_at, updated_at) VALUES (?, ?, 1, ?, ?)').run(c.name, c.id, c.at, c.at);
  prepared(db, 'INSERT INTO secret_versions (secret_name, version, value, created_at) VALUES (?, 1, ?, ?)').run(c.name, c.value, c.at);
  return true;
}

/**
 * Applies secret.update: the value becomes version + 1. `id` is the id the
 * value was sealed for; a secret removed and made again since has another
 * and is refused. Returns the services to roll (those that mount it); the
 * caller re-pins their specs.
 */
export function updateSecretValue(db: Db, c: { id: string; name: string; value: string; at: number }): string[] {
  const row = prepared(db, 'SELECT id, version FROM secrets WHERE name = ?').get(c.name) as { id: string; version: number } | undefined;
  if (!row) throw new BicycleError('SECRET_NOT_FOUND', `no secret named ${c.name}`);
  if (row.id !== c.id) throw new BicycleError('SECRET_NOT_FOUND', `secret ${c.name} was removed and created again while this value was sent; send it again`);
  const version = row.version + 1;
  prepared(db, 'UPDATE secrets SET version = ?, updated_at = ? WHERE name = ?').run(version, c.at, c.name);
  prepared(db, 'INSERT INTO secret_versions (secret_name, version, value, created_at) VALUES (?, ?, ?, ?)').run(c.name, version, c.value, c.at);
  return servicesUsingSecret(db, c.name);
}

/** Applies secret.remove; refused (SECRET_IN_USE, naming them) while services mount it. */
export function removeSecret(db: Db, name: string): boolean {
  if (!prepared(db, 'SELECT 1 FROM secrets WHERE name = ?').get(name)) throw new BicycleError('SECRET_NOT_FOUND', `no secret named ${name}`);
  const users = servicesUsingSecret(db, name);
  if (users.length > 0) {
    throw new BicycleError('SECRET_IN_USE', `secret ${name} is used by service${users.length > 1 ? 's' : ''} ${users.join(', ')}; remove it from them first (\`bicycle service update ${users[0]} --secret-rm ${name}\`)`);
  }
  prepared(db, 'DELETE FROM secrets WHERE name = ?').run(name);
  return true;
}

/** Forgets the values no service and no recorded spec version pins, except each secret's current one. */
export function pruneSecretVersions(db: Db): boolean {
  return prepared(db,
    `DELETE FROM secret_versions AS v
     WHERE v.version != (SELECT s.version FROM secrets s WHERE s.name = v.secret_name)
       AND NOT EXISTS (SELECT 1 FROM services s, json_each(s.secrets) j
                       WHERE json_extract(j.value, '$.source') = v.secret_name AND json_extract(j.value, '$.version') = v.version)
       AND NOT EXISTS (SELECT 1 FROM service_versions sv, json_each(sv.spec, '$.secrets') j
                       WHERE json_extract(j.value, '$.source') = v.secret_name AND json_extract(j.value, '$.version') = v.version)`,
  ).run().changes > 0;
}
