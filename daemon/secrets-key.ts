import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import { join } from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
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

/**
 * Autolock (docs/security.md, "Autolock"): the key file sealed under a
 * passphrase, one line `autolock:v1:<salt>:<iv>:<tag>:<sealed key>` (base64
 * parts): AES-256-GCM under scrypt(passphrase, salt). A locked node keeps
 * the opened key in memory only, shared by its threads (see `holdKey`).
 */
const LOCKED_PREFIX = 'autolock:v1:';
/** scrypt's cost: about 0.1 s and 32 MiB per try, so guessing passphrases off a stolen disk is slow. */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** The passphrase settings of a start: whether the key file is to be kept locked, and the passphrase given (BICYCLE_UNLOCK_KEY or --unlock-key-file). */
export interface AutolockSettings {
  autolock: boolean;
  passphrase?: string;
}

/** Whether the data directory's key file is locked by a passphrase. */
export function isKeyFileLocked(dataDir: string): boolean {
  const text = readKeyFile(dataDir);
  return text !== null && text.startsWith(LOCKED_PREFIX);
}

function readKeyFile(dataDir: string): string | null {
  try {
    return readFileSync(secretsKeyPath(dataDir), 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function sealUnderPassphrase(key: Buffer, passphrase: string): string {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', scryptSync(passphrase, salt, 32, SCRYPT), iv);
  const sealed = Buffer.concat([cipher.update(key), cipher.final()]);
  return LOCKED_PREFIX + [salt, iv, cipher.getAuthTag(), sealed].map((b) => b.toString('base64')).join(':');
}

/** Opens a locked key file's text; throws INVALID_ARGUMENT when the passphrase is not the one it was locked with. */
function openWithPassphrase(text: string, passphrase: string, path: string): Buffer {
  const parts = text.slice(LOCKED_PREFIX.length).split(':').map((p) => Buffer.from(p, 'base64'));
  if (parts.length !== 4) throw new Error(`${path} is not a locked secrets key (expected ${LOCKED_PREFIX}<salt>:<iv>:<tag>:<key>)`);
  const [salt, iv, tag, sealed] = parts as [Buffer, Buffer, Buffer, Buffer];
  const decipher = createDecipheriv('aes-256-gcm', scryptSync(passphrase, salt, 32, SCRYPT), iv);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed), decipher.final()]);
  } catch {
    throw new BicycleError('INVALID_ARGUMENT', `the passphrase does not unlock this node's secrets key (${path}): it is not the one the key was locked with`);
  }
}

/**
 * The key in the data directory, or null when there is none yet. A locked
 * file gives the key this process holds once unlocked, and throws
 * SECRETS_KEY_UNAVAILABLE, saying how to unlock, before. Throws when the
 * file is not a key.
 */
export function readSecretsKey(dataDir: string): Buffer | null {
  const path = secretsKeyPath(dataDir);
  const text = readKeyFile(dataDir);
  if (text === null) return null;
  if (text.startsWith(LOCKED_PREFIX)) {
    const held = heldKey(dataDir);
    if (held) return held;
    throw new BicycleError('SECRETS_KEY_UNAVAILABLE',
      `this node is locked: its secrets key (${path}) is sealed by the autolock passphrase; unlock it with \`bicycle node unlock\` (or restart with BICYCLE_UNLOCK_KEY)`);
  }
  const key = Buffer.from(text, 'base64');
  if (key.length !== SECRET_KEY_BYTES) throw new Error(`${path} is not a secrets key (expected ${SECRET_KEY_BYTES} bytes in base64, found ${key.length})`);
  return key;
}

/**
 * Writes the key, readable by its owner only, locked under `passphrase`
 * when one is given. An existing file with the same key is left as it is;
 * one with another key is refused (a node's key is replaced by hand, never
 * silently).
 */
export function writeSecretsKey(dataDir: string, key: Buffer, passphrase?: string): void {
  const path = secretsKeyPath(dataDir);
  const text = readKeyFile(dataDir);
  if (text !== null) {
    const existing = text.startsWith(LOCKED_PREFIX) && passphrase !== undefined ? openWithPassphrase(text, passphrase, path) : readSecretsKey(dataDir);
    if (!existing!.equals(key)) throw new Error(`${path} already holds another secrets key; this node belongs to another cluster`);
    return;
  }
  replaceKeyFile(dataDir, passphrase === undefined ? key.toString('base64') : sealUnderPassphrase(key, passphrase), 'wx');
}

/** Writes the key file's text with mode 0600: `wx` for a first key, else through a temporary file and a rename. */
function replaceKeyFile(dataDir: string, text: string, flag: 'wx' | 'w'): void {
  const path = secretsKeyPath(dataDir);
  const target = flag === 'wx' ? path : `${path}.tmp`;
  writeFileSync(target, `${text}\n`, { mode: 0o600, flag });
  // The mode given to open is masked by the umask; this is the mode the file keeps.
  chmodSync(target, 0o600);
  if (target !== path) renameSync(target, path);
}

/** A new random key, written unless one is there; returns the key the node has. */
export function ensureSecretsKey(dataDir: string, passphrase?: string): Buffer {
  if (readKeyFile(dataDir) !== null) return passphrase !== undefined && isKeyFileLocked(dataDir) ? openWithPassphrase(readKeyFile(dataDir)!, passphrase, secretsKeyPath(dataDir)) : readSecretsKey(dataDir)!;
  const key = randomBytes(SECRET_KEY_BYTES);
  writeSecretsKey(dataDir, key, passphrase);
  return key;
}

/**
 * Applies a start's autolock settings to the key file, once the key is in
 * place (settleSecretsKey): with a passphrase, a plain file is locked
 * (--autolock) or a locked one opened for good (no --autolock), and the
 * key is held in memory for every thread; without one, a locked node
 * starts locked, and --autolock on a plain file is refused (it would stay
 * plain). Throws when the passphrase does not open the file.
 * Returns whether the node is locked (a key file it cannot open).
 */
export function settleAutolock(dataDir: string, settings: AutolockSettings, log: { warn(message: string, meta: object): unknown; info(message: string, meta: object): unknown }): boolean {
  const path = secretsKeyPath(dataDir);
  const text = readKeyFile(dataDir);
  if (text === null) return false;
  const locked = text.startsWith(LOCKED_PREFIX);
  if (settings.passphrase === undefined) {
    if (settings.autolock && !locked) {
      throw new Error('--autolock needs the passphrase that locks the secrets key: give it in BICYCLE_UNLOCK_KEY or a file named by --unlock-key-file (never on the command line)');
    }
    if (locked) log.warn('this node is locked: secrets cannot be created or mounted here until `bicycle node unlock`', { path });
    return locked;
  }
  const key = locked ? openWithPassphrase(text, settings.passphrase, path) : readSecretsKey(dataDir)!;
  if (settings.autolock && !locked) {
    replaceKeyFile(dataDir, sealUnderPassphrase(key, settings.passphrase), 'w');
    log.info('locked the secrets key with the autolock passphrase', { path });
  } else if (!settings.autolock && locked) {
    replaceKeyFile(dataDir, key.toString('base64'), 'w');
    log.warn('autolock is off: the secrets key file is no longer locked by a passphrase', { path });
  }
  holdKey(dataDir, key);
  return false;
}

/**
 * `bicycle node unlock`: opens the locked key file with `passphrase` and
 * hands the key to every thread. Throws INVALID_ARGUMENT for a wrong
 * passphrase, and when the node is not locked.
 */
export function unlockSecretsKey(dataDir: string, passphrase: string): void {
  const text = readKeyFile(dataDir);
  if (text === null || !text.startsWith(LOCKED_PREFIX)) throw new BicycleError('INVALID_ARGUMENT', 'this node is not locked: its secrets key is not sealed by an autolock passphrase');
  holdKey(dataDir, openWithPassphrase(text, passphrase, secretsKeyPath(dataDir)));
}

/** The lock state of this node, as `GET /node/lock` answers it. */
export function lockState(dataDir: string): { autolock: boolean; locked: boolean } {
  const autolock = isKeyFileLocked(dataDir);
  return { autolock, locked: autolock && heldKey(dataDir) === null };
}

// The opened key of a locked file, shared by the threads of this process
// over a BroadcastChannel: a thread that starts (or restarts) asks, and
// any thread holding the key answers. Keys are held per data directory.
const KEY_CHANNEL = 'bicycle.secrets-key';
const held = new Map<string, Buffer>();
let channel: BroadcastChannel | undefined;

type KeyMessage = { type: 'ask' } | { type: 'key'; dataDir: string; key: string };

/** Joins the threads' key channel and asks for the keys held (once per thread); call at a thread's start. */
export function listenForKey(): void {
  if (channel) return;
  channel = new BroadcastChannel(KEY_CHANNEL);
  channel.unref();
  channel.onmessage = (event) => {
    const message = (event as { data: KeyMessage }).data;
    if (message.type === 'key') {
      if (!held.has(message.dataDir)) held.set(message.dataDir, Buffer.from(message.key, 'base64'));
    } else {
      for (const [dataDir, key] of held) channel!.postMessage({ type: 'key', dataDir, key: key.toString('base64') } satisfies KeyMessage);
    }
  };
  channel.postMessage({ type: 'ask' } satisfies KeyMessage);
}

function holdKey(dataDir: string, key: Buffer): void {
  held.set(dataDir, key);
  listenForKey();
  channel!.postMessage({ type: 'key', dataDir, key: key.toString('base64') } satisfies KeyMessage);
}

function heldKey(dataDir: string): Buffer | null {
  return held.get(dataDir) ?? null;
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

  constructor(private readonly dataDir: string) {
    listenForKey();
  }

  /** The key; throws SECRETS_KEY_UNAVAILABLE, naming the file, when the node has none (or is locked). */
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
 * Puts the secrets key in place at start, before any thread needs it
 * (locked under the passphrase with --autolock). A restarted founder
 * without one (a data directory older than secrets) makes one; a joined
 * node without one says where to get it. Returns whether the node starts
 * locked (settleAutolock).
 */
export function settleSecretsKey(dataDir: string, situation: KeySituation, log: { warn(message: string, meta: object): unknown; info(message: string, meta: object): unknown }, lock: AutolockSettings = { autolock: false }): boolean {
  // A key that would be written in the clear, on a node asked to keep it locked without a passphrase to do so: refused before anything is written.
  if (lock.autolock && lock.passphrase === undefined && !isKeyFileLocked(dataDir)) settleAutolock(dataDir, lock, log);
  const passphrase = lock.autolock ? lock.passphrase : undefined;
  switch (situation.kind) {
    case 'found':
      ensureSecretsKey(dataDir, passphrase);
      break;
    case 'fixed':
      writeSecretsKey(dataDir, deriveSecretsKey(situation.clusterSecret), passphrase);
      break;
    case 'joined':
      if (situation.key) writeSecretsKey(dataDir, Buffer.from(situation.key, 'base64'), passphrase);
      else log.warn('the member this node joined through sent no secrets key: secrets cannot be mounted here until one is copied in', { path: secretsKeyPath(dataDir) });
      break;
    case 'restart':
      if (readKeyFile(dataDir) !== null) {
        // A fixed cluster's key is checked against the shared secret once it can be read (a locked file, after settleAutolock).
        if (situation.clusterSecret !== undefined && !isKeyFileLocked(dataDir)) writeSecretsKey(dataDir, deriveSecretsKey(situation.clusterSecret));
      } else if (situation.clusterSecret !== undefined) writeSecretsKey(dataDir, deriveSecretsKey(situation.clusterSecret), passphrase);
      else if (situation.joined) log.warn('this node has no secrets key: copy the cluster\'s from a member (mode 0600) to mount secrets here', { path: secretsKeyPath(dataDir) });
      else {
        ensureSecretsKey(dataDir, passphrase);
        log.info('made a secrets key for this cluster', { path: secretsKeyPath(dataDir) });
      }
  }
  return settleAutolock(dataDir, lock, log);
}

/** The grant a joining node receives, with this node's copy of the cluster's secrets key. */
export function grantWithSecretsKey<G extends object>(dataDir: string, grant: G): G & { secretsKey?: string } {
  let key: Buffer | null;
  try {
    key = readSecretsKey(dataDir);
  } catch (error) {
    // A locked member admits the node without the key; the joiner says so, and gets it from an unlocked member later by hand.
    if (error instanceof BicycleError && error.code === 'SECRETS_KEY_UNAVAILABLE') return grant;
    throw error;
  }
  return key ? { ...grant, secretsKey: key.toString('base64') } : grant;
}
