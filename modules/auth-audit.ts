import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Logger } from '../daemon/logger';
import { readAudit, recordAudit } from '../database/audit';
import type { Db } from '../database/open-database';
import { routeAccess } from './auth-policy';
import { parseInteger } from './validation';

/**
 * Records every write request (any method but GET, HEAD and OPTIONS) in
 * this node's audit log, allowed or refused, with its final status: who
 * (the identity the auth middleware set, else `anonymous`), what (method,
 * path, the service, node or token it names), when, from where. Sits
 * outside the error middleware so it sees the status the client gets.
 * Node-to-node Raft messages and forwarded requests are not user requests
 * and are not recorded (a join is).
 */
export function auditMiddleware(db: Db, log: Logger, now: () => number): Middleware {
  return async (k, next) => {
    if (['GET', 'HEAD', 'OPTIONS'].includes(k.method)) return next();
    const access = routeAccess(k.method, k.path);
    const isJoin = access === 'node' && k.path === '/cluster/join';
    if (access === 'node' && !isJoin) return next();
    try {
      await next();
    } finally {
      const identity = k.state.identity;
      const body = k.request.body as { name?: unknown; node?: { name?: unknown } } | undefined;
      const named = /^\/(?:services|nodes|tokens|secrets)\/([^/]+)/.exec(k.path)?.[1];
      const fromBody = isJoin ? body?.node?.name : body?.name;
      const target = named ? decodeURIComponent(named) : typeof fromBody === 'string' ? fromBody : null;
      try {
        recordAudit(db, {
          at: now(),
          actor: identity?.actor ?? (isJoin ? 'join' : 'anonymous'),
          accessor: identity?.accessor ?? null,
          method: k.method,
          path: k.path,
          target,
          status: k.status,
          source: k.req.socket.remoteAddress ?? null,
        });
      } catch (error) {
        // The request has been answered; a lost audit row is a fault worth the log's error level.
        log.error('cannot record an audit entry', { method: k.method, path: k.path, error: (error as Error).message });
      }
    }
  };
}

/** GET /audit (admin): this node's audit log, oldest first; `since` in ms since the epoch, `limit` the newest that many. */
export function auditRouter(db: Db): Router {
  const router = new Router();
  router.get('/audit', (k) => {
    const since = parseInteger(k.query.since, 'since', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = parseInteger(k.query.limit, 'limit', 1000, 1, 10_000);
    k.body = { records: readAudit(db, { since, limit }).map(({ id, ...r }) => ({ id, ...r, at: new Date(r.at).toISOString() })) };
  });
  return router;
}
