import Router from '@koa/router';
import { getLocal, getNode } from '../database/queries';
import { containerStatsVersion, readVersion } from '../database/read-version';
import { AnswerCache, answerJson } from './answer-cache';
import { readBarrier, type RestContext } from './context';
import { readState, STATE_CONTAINERS_LIMIT } from './present';
import { parseInteger } from './validation';

/** The State endpoint, and the health check. */
export function stateRouter(ctx: RestContext): Router {
  const router = new Router();
  const answers = new AnswerCache(4);
  router.get('/state', async (k) => {
    // How many containers to list; containerCounts counts them all.
    const limit = parseInteger(k.query.limit, 'limit', STATE_CONTAINERS_LIMIT, 0, 100_000);
    await readBarrier(ctx, k.query);
    // One answer per second at most while nothing changes: uptimes are to the second.
    const now = ctx.now();
    const key = `${limit}|${Math.floor(now / 1000)}|${containerStatsVersion(ctx.db)}`;
    answerJson(k, answers.get(readVersion(ctx.db).all, key, () => readState(ctx.db, now, limit)));
  });
  router.get('/healthz', (k) => {
    const leaderId = getLocal(ctx.db, 'leader_id') || null;
    // The same naming as /state: leader is the node's name, leaderId its id. nodeId and store are this node's own.
    k.body = {
      status: 'ok',
      leader: leaderId ? (getNode(ctx.db, leaderId)?.name ?? leaderId) : null,
      leaderId,
      nodeId: getLocal(ctx.db, 'node_id') ?? null,
      store: getLocal(ctx.db, 'store') === 'memory' ? 'memory' : 'persisted',
    };
  });
  return router;
}
