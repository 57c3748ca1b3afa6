import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM sealing of secret values (docs/security.md, "Secrets"). A
 * sealed value is text: `v1.<nonce>.<ciphertext>.<tag>`, each part
 * base64url; the nonce is 96 random bits, new for every value. The
 * associated data binds a sealed value to the secret it belongs to (its id
 * and name), so a value copied onto another secret's row does not open.
 */
const PREFIX = 'v1';
export const SECRET_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** The associated data of a secret's values: its id and its name. */
export function secretAad(id: string, name: string): string {
  return `bicycle-secret:${id}:${name}`;
}

/** Thrown when a sealed value does not open with this key: another cluster's key, or a damaged or tampered value. */
export class SecretOpenError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SecretOpenError';
  }
}

/**
 * Seals `plaintext` under `key` (32 bytes). `random` gives the nonce (the
 * crypto's by default; a test may inject its own).
 */
export function sealSecret(key: Buffer, plaintext: Buffer, aad: string, random: (n: number) => Buffer = randomBytes): string {
  requireKey(key);
  const nonce = random(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [PREFIX, nonce.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** Opens a value sealSecret made with the same key and associated data; throws SecretOpenError otherwise. */
export function openSecret(key: Buffer, sealed: string, aad: string): Buffer {
  requireKey(key);
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== PREFIX) throw new SecretOpenError('not a sealed secret value (expected v1.<nonce>.<ciphertext>.<tag>)');
  const nonce = Buffer.from(parts[1]!, 'base64url');
  const ciphertext = Buffer.from(parts[2]!, 'base64url');
  const tag = Buffer.from(parts[3]!, 'base64url');
  if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) throw new SecretOpenError('a sealed secret value has a nonce or tag of the wrong length');
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new SecretOpenError('the value does not open with this key (the key is not the cluster\'s, or the value was altered)');
  }
}

function requireKey(key: Buffer): void {
  if (key.length !== SECRET_KEY_BYTES) throw new Error(`a secrets key is ${SECRET_KEY_BYTES} bytes, not ${key.length}`);
}
