import Router from '@koa/router';
import { getLocal } from '../database/queries';
import { readBarrier, type RestContext } from './context';
import { readState } from './present';

/** The State endpoint, and the health check. */
export function stateRouter(ctx: RestContext): Router {
  const router = new Router();
  router.get('/state', async (k) => {
    await readBarrier(ctx, k.query);
    k.body = readState(ctx.db, ctx.now());
  });
  router.get('/healthz', (k) => {
    const leader = getLocal(ctx.db, 'leader_id') ?? null;
    k.body = { status: 'ok', leader };
  });
  return router;
}
