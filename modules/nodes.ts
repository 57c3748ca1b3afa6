import Router from '@koa/router';
import { BicycleError } from '../daemon/errors';
import { getNode } from '../database/queries';
import { proposeOrThrow, type RestContext } from './context';
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

  router.get('/nodes', (k) => {
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

  return router;
}
