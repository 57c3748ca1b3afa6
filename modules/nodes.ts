import Router from '@koa/router';
import { BicycleError } from '../daemon/errors';
import { getNode } from '../database/queries';
import { proposeOrThrow, readBarrier, type RestContext } from './context';
import { readNodes } from './present';
import { parseNodeChanges } from './validation';

/** Member nodes: list, one, and availability (drain/activate). */
export function nodesRouter(ctx: RestContext): Router {
  const router = new Router();
  const find = (idOrName: string) => {
    const node = getNode(ctx.db, idOrName);
    if (!node) throw new BicycleError('NODE_NOT_FOUND', `no node with id or name ${idOrName}`);
    return node;
  };

  router.get('/nodes', async (k) => {
    await readBarrier(ctx, k.query);
    k.body = { nodes: readNodes(ctx.db, ctx.now()) };
  });

  router.get('/nodes/:id', (k) => {
    const node = find(k.params.id!);
    k.body = readNodes(ctx.db, ctx.now()).find((n) => n.id === node.id);
  });

  router.patch('/nodes/:id', async (k) => {
    const node = find(k.params.id!);
    const changes = parseNodeChanges(k.request.body);
    await proposeOrThrow(ctx, { type: 'node.set-availability', nodeId: node.id, availability: changes.availability, at: ctx.now() });
    ctx.log.info('node availability changed', { target: node.name, availability: changes.availability });
    k.body = readNodes(ctx.db, ctx.now()).find((n) => n.id === node.id);
  });

  /** Removes a node from the cluster: it stops voting, its row goes, its replicas are placed elsewhere. */
  router.delete('/nodes/:id', async (k) => {
    const node = find(k.params.id!);
    await ctx.voting.changeMembership({ action: 'remove', nodeId: node.id });
    ctx.log.info('node removed', { target: node.name });
    k.status = 200;
    k.body = { removed: node.name };
  });

  for (const action of ['promote', 'demote'] as const) {
    router.post(`/nodes/:id/${action}`, async (k) => {
      const node = find(k.params.id!);
      await ctx.voting.changeMembership({ action, nodeId: node.id });
      ctx.log.info(`node ${action}d`, { target: node.name });
      k.body = readNodes(ctx.db, ctx.now()).find((n) => n.id === node.id);
    });
  }

  return router;
}
