import Koa from 'koa';
import type { RestContext } from './context';
import { errorMiddleware } from './error-middleware';
import { jsonBody } from './json-body';
import { idempotency } from './idempotency';
import { servicesRouter } from './services';
import { nodesRouter } from './nodes';
import { stateRouter } from './state';
import { logsRouter } from './logs';
import { eventsRouter } from './events-router';
import { clusterRouter } from './cluster';
import { sessionsRouter } from './sessions';
import { openapiRouter } from './openapi';
import { createMetrics } from './metrics';
import { uiRouter } from './ui-router';
import { secretsRouter } from './secrets';
import { nodeLockRouter } from './node-lock';
import { snapshotReceiveRouter } from './snapshot-receive';
import { authMiddleware } from './auth';
import { auditMiddleware, auditRouter } from './auth-audit';
import { tokensRouter } from './auth-tokens';
import { authSelfRouter } from './auth-self';
import { debugLinksRouter, inboundLinkGate, InboundLinkCuts } from './debug-links';

export const BODY_LIMIT_BYTES = 1024 * 1024;

/** The REST API: one koa app, one router per entity, one error middleware. */
export function createApp(ctx: RestContext, linkCuts = new InboundLinkCuts()): Koa {
  const app = new Koa();
  // First of all: a request from a peer whose link is cut (--debug-links) gets no answer, as across a partition.
  app.use(inboundLinkGate(ctx.db, linkCuts));
  // Outermost, so it sees the status the error middleware answers with.
  const metrics = createMetrics(ctx.db, { threadMetrics: ctx.threadMetrics });
  app.use(metrics.middleware);
  // Outside the error middleware too, so every write is recorded with the status its client got (docs/security.md).
  app.use(auditMiddleware(ctx.db, ctx.log, ctx.now));
  app.use(errorMiddleware(ctx.log));
  // Before the body is read: a request without the right token is refused unread.
  app.use(authMiddleware(ctx.db, { mode: ctx.auth ?? 'auto', now: ctx.now }));
  // Snapshot chunks are bytes, not JSON: their route reads its own body (node-to-node, modules/snapshot-receive.ts).
  const snapshots = snapshotReceiveRouter(ctx);
  app.use(snapshots.routes());
  app.use(snapshots.allowedMethods());
  app.use(jsonBody(BODY_LIMIT_BYTES));
  app.use(idempotency(ctx.db));
  app.use(uiRouter());
  for (const router of [servicesRouter(ctx), nodesRouter(ctx), stateRouter(ctx), logsRouter(ctx), eventsRouter(ctx), clusterRouter(ctx), sessionsRouter(ctx), secretsRouter(ctx), nodeLockRouter(ctx), tokensRouter(ctx), authSelfRouter(), auditRouter(ctx.db), debugLinksRouter(ctx, linkCuts), metrics.router, openapiRouter()]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
