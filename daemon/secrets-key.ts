import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hkdfSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BicycleError } from './errors';
import { SECRET_KEY_BYTES } from './secret-box';

/**
 * The cluster's secrets key: 32 bytes, outside the database, in the data
 * directory's `secrets.key` (base64, one line, mode 0600). Made when a node
 * founds a cluster, received from the cluster when a node joins, derived
 * from the shared cluster secret in a fixed cluster (docs/security.md).
 */
export const SECRETS_KEY_FILE = 'secrets.key';

export function secretsKeyPath(dataDir: string): string {
  return join(dataDir, SECRETS_KEY_FILE);
}

/** The key in the data directory, or null when there is none yet. Throws when the file is not a key. */
export function readSecretsKey(dataDir: string): Buffer | null {
  const path = secretsKeyPath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== SECRET_KEY_BYTES) throw new Error(`${path} is not a secrets key (expected ${SECRET_KEY_BYTES} bytes in base64, found ${key.length})`);
  return key;
}

/**
 * Writes the key, readable by its owner only. An existing file with the
 * same key is left as it is; one with another key is refused (a node's key
 * is replaced by hand, never silently).
 */
export function writeSecretsKey(dataDir: string, key: Buffer): void {
  const existing = readSecretsKey(dataDir);
  if (existing) {
    if (!existing.equals(key)) throw new Error(`${secretsKeyPath(dataDir)} already holds another secrets key; this node belongs to another cluster`);
    return;
  }
  const path = secretsKeyPath(dataDir);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  // The mode given to open is masked by the umask; this is the mode the file keeps.
  chmodSync(path, 0o600);
}

/** A new random key, written unless one is there; returns the key the node has. */
export function ensureSecretsKey(dataDir: string): Buffer {
  const existing = readSecretsKey(dataDir);
  if (existing) return existing;
  const key = randomBytes(SECRET_KEY_BYTES);
  writeSecretsKey(dataDir, key);
  return key;
}

/** A fixed cluster's key, the same on every member: derived from the cluster secret they all share. */
export function deriveSecretsKey(clusterSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(clusterSecret, 'utf8'), Buffer.from('bicycle', 'utf8'), Buffer.from('secrets key v1', 'utf8'), SECRET_KEY_BYTES));
}

/** The file's permission bits (for a test, and a warning). */
export function secretsKeyMode(dataDir: string): number {
  return statSync(secretsKeyPath(dataDir)).mode & 0o777;
}

/**
 * The key as a thread uses it: read from the data directory on first use
 * (a joining node receives it after its threads have started), then kept.
 */
export class SecretsKeyring {
  private cached: Buffer | null = null;

  constructor(private readonly dataDir: string) {}

  /** The key; throws SECRETS_KEY_UNAVAILABLE, naming the file, when the node has none. */
  key(): Buffer {
    this.cached ??= readSecretsKey(this.dataDir);
    if (!this.cached) {
      throw new BicycleError('SECRETS_KEY_UNAVAILABLE',
        `this node has no secrets key (${secretsKeyPath(this.dataDir)}): it is made when a node founds a cluster and received when one joins; copy the cluster's from another member (mode 0600)`);
    }
    return this.cached;
  }
}

/** What bicycled's start knows of how this node came to its cluster (daemon/threads/voting.ts). */
export type KeySituation =
  /** Founds a new cluster: a new key. */
  | { kind: 'found' }
  /** A fixed cluster's member: the key derived from the shared cluster secret. */
  | { kind: 'fixed'; clusterSecret: string }
  /** Joined through a member: the key that member's grant carried (absent from a member older than secrets). */
  | { kind: 'joined'; key: string | undefined }
  /** A restart: the key it has; `joined` when it once joined (so a missing key must come from the cluster). */
  | { kind: 'restart'; joined: boolean; clusterSecret?: string };

/**
 * Puts the secrets key in place at start, before any thread needs it.
 * A restarted founder without one (a data directory older than secrets)
 * makes one; a joined node without one says where to get it.
 */
export function settleSecretsKey(dataDir: string, situation: KeySituation, log: { warn(message: string, meta: object): unknown; info(message: string, meta: object): unknown }): void {
  switch (situation.kind) {
    case 'found':
      ensureSecretsKey(dataDir);
      return;
    case 'fixed':
      writeSecretsKey(dataDir, deriveSecretsKey(situation.clusterSecret));
      return;
    case 'joined':
      if (situation.key) writeSecretsKey(dataDir, Buffer.from(situation.key, 'base64'));
      else log.warn('the member this node joined through sent no secrets key: secrets cannot be mounted here until one is copied in', { path: secretsKeyPath(dataDir) });
      return;
    case 'restart':
      if (situation.clusterSecret !== undefined) writeSecretsKey(dataDir, deriveSecretsKey(situation.clusterSecret));
      else if (readSecretsKey(dataDir)) return;
      else if (situation.joined) log.warn('this node has no secrets key: copy the cluster\'s from a member (mode 0600) to mount secrets here', { path: secretsKeyPath(dataDir) });
      else {
        ensureSecretsKey(dataDir);
        log.info('made a secrets key for this cluster', { path: secretsKeyPath(dataDir) });
      }
  }
}

/** The grant a joining node receives, with this node's copy of the cluster's secrets key. */
export function grantWithSecretsKey<G extends object>(dataDir: string, grant: G): G & { secretsKey?: string } {
  const key = readSecretsKey(dataDir);
  return key ? { ...grant, secretsKey: key.toString('base64') } : grant;
}
