import { z } from 'zod';
import { DEFAULT_SECRET_MODE, defaultSecretTarget, type SecretRef } from '../database/secrets';

/**
 * What the REST API accepts of secrets: a secret's name and value
 * (POST /secrets, PATCH /secrets/:name) and a service's `secrets`
 * ([{source, target, mode}]). A target is any absolute path in the
 * container (by default /run/secrets/<source>), a mode octal text.
 */
export const SECRET_NAME_RULE = 'must be 1-63 letters, digits, ".", "-" or "_", starting with a letter or digit';
export const secretName = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, SECRET_NAME_RULE);

/** A value is at most 500 KiB, as Swarm's (the sealed text is about 4/3 of it, within the 1 MiB body limit). */
export const MAX_SECRET_BYTES = 500 * 1024;
const DATA = 'must be the value in base64 (at most 500 KiB once decoded)';
const data = z
  .string({ error: DATA })
  .max(Math.ceil(MAX_SECRET_BYTES / 3) * 4 + 4, DATA)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, DATA)
  .refine((text) => text.length % 4 === 0, DATA)
  .refine((text) => Buffer.from(text, 'base64').length <= MAX_SECRET_BYTES, DATA);

export const createSecretRequest = z.strictObject({ name: secretName, data });
export const updateSecretRequest = z.strictObject({ data });
/** POST /node/unlock: the autolock passphrase this node's secrets key was locked with. */
export const unlockRequest = z.strictObject({ passphrase: z.string({ error: 'must be the autolock passphrase, a string' }).min(1, 'must not be empty').max(1024, 'must be at most 1024 characters') });

const TARGET = 'must be an absolute path in the container, e.g. /run/secrets/db-pass (no "." or ".." parts, no ",", ":" or spaces)';
const target = z
  .string({ error: TARGET })
  .max(4096, TARGET)
  .refine((path) => path.startsWith('/') && path.length > 1 && !/[\s,:\\]/.test(path) && !path.endsWith('/'), TARGET)
  .refine((path) => path.split('/').slice(1).every((part) => part !== '' && part !== '.' && part !== '..'), TARGET);

const MODE = 'must be octal permission bits as text, e.g. "0400" or "0444"';
const mode = z
  .string({ error: MODE })
  .regex(/^0?[0-7]{3}$/, MODE)
  .transform((text) => text.padStart(4, '0'));

const secretRef = z.strictObject(
  { source: secretName, target: target.optional(), mode: mode.optional() },
  { error: 'must be an object, e.g. {"source": "db-pass", "target": "/run/secrets/db", "mode": "0400"}' },
);

/** A service's secrets: each target once. */
export const secretRefs = z
  .array(secretRef, { error: 'must be an array of secrets, e.g. [{"source": "db-pass"}]' })
  .max(100, 'must have at most 100 secrets')
  .transform((list): SecretRef[] => list.map((r) => ({ source: r.source, target: r.target ?? defaultSecretTarget(r.source), mode: r.mode ?? DEFAULT_SECRET_MODE })))
  .superRefine((list, ctx) => {
    const first = new Map<string, number>();
    list.forEach((r, i) => {
      const earlier = first.get(r.target);
      if (earlier === undefined) first.set(r.target, i);
      else ctx.addIssue({ code: 'custom', message: `target ${r.target} is already secrets.${earlier}'s`, path: [i, 'target'] });
    });
  });
