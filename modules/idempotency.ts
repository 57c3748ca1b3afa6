import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import type { Middleware } from 'koa';
import { BicycleError } from '../daemon/errors';
import type { Command, RequestTag } from '../database/commands';
import type { Db } from '../database/open-database';
import { lookupRequest, reusedMessage } from '../database/applied-requests';
import { getLocal } from '../database/queries';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;
const WRITE_METHODS = new Set(['POST', 'PATCH', 'DELETE']);

interface RequestScope {
  tag: RequestTag;
  /** Proposals made so far by this HTTP request. */
  proposals: number;
}

const scope = new AsyncLocalStorage<RequestScope>();

/**
 * Gives every write request (POST, PATCH, DELETE; not the node-to-node
 * `/cluster/` routes) its request id, which its proposals carry so that the
 * state machine applies them once however often they are retried (the REST
 * thread's retry loop, a forward to the leader sent again, the client's own
 * retry). With an `Idempotency-Key` header the id is the key, so the client's
 * retries are the same request too; the fingerprint (method, path, body)
 * tells a retry from a different request under the same key, which is
 * refused 422 IDEMPOTENCY_KEY_REUSED. Runs after the body is parsed.
 */
export function idempotency(db: Db): Middleware {
  return async (k, next) => {
    if (!WRITE_METHODS.has(k.method) || k.path.startsWith('/cluster/')) return next();
    const key = k.get(IDEMPOTENCY_HEADER);
    let tag: RequestTag;
    if (key === '') {
      tag = { id: `req:${randomBytes(12).toString('hex')}` };
    } else {
      if (!KEY_PATTERN.test(key)) {
        throw new BicycleError('INVALID_ARGUMENT', `${IDEMPOTENCY_HEADER}: must be 1 to 200 visible ASCII characters (letters, digits, punctuation; no spaces)`);
      }
      // A secret's value (or the autolock passphrase) is in its body: a replicated hash of it could confirm a guess, so these writes are fingerprinted without it.
      const secretBody = k.path === '/secrets' || k.path.startsWith('/secrets/') || k.path === '/node/unlock';
      const body = secretBody ? { name: (k.request.body as { name?: unknown } | undefined)?.name ?? null } : k.request.body;
      tag = { id: `key:${key}`, key, fingerprint: fingerprint(k.method, k.path, body) };
      // A prompt answer from this node's replica; applying the command decides.
      const seen = lookupRequest(db, tag, appliedIndex(db));
      if (seen.seen === 'different') throw new BicycleError('IDEMPOTENCY_KEY_REUSED', reusedMessage(tag, seen.first));
    }
    // Who asked travels with the proposals, to the leader and into the log (docs/security.md).
    const identity = k.state.identity;
    if (identity) tag = { ...tag, actor: identity.actor, ...(identity.accessor ? { accessor: identity.accessor } : {}) };
    return scope.run({ tag, proposals: 0 }, next);
  };
}

/**
 * The command tagged with the current HTTP request's id. A request's first
 * proposal carries the id itself, a further one `<id>#2`, … so a retried
 * request names its proposals alike. Outside a request, the command as is.
 */
export function tagWithRequest(command: Command): Command {
  const current = scope.getStore();
  if (!current || command.request) return command;
  current.proposals++;
  const id = current.proposals === 1 ? current.tag.id : `${current.tag.id}#${current.proposals}`;
  return { ...command, request: { ...current.tag, id } };
}

/**
 * True when this node has already applied the current request (a retry,
 * same key and same request). A route's prompt checks (the name is taken,
 * the service is gone) must not refuse it: proposing it again answers the
 * first result. Ask after the check failed: the effect and the id commit in
 * one transaction, so having seen the effect, the id is there too.
 */
export function isReplay(db: Db): boolean {
  const current = scope.getStore();
  if (!current || current.tag.key === undefined) return false;
  return lookupRequest(db, current.tag, appliedIndex(db)).seen === 'same';
}

/** `POST /services sha256:…` of the body as sent (parsed JSON). */
function fingerprint(method: string, path: string, body: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(body ?? null)).digest('hex').slice(0, 32);
  return `${method} ${path} sha256:${digest}`;
}

function appliedIndex(db: Db): number {
  return Number(getLocal(db, 'applied_index') ?? 0);
}
