import Router from '@koa/router';
import { BicycleError } from '../daemon/errors';
import { getNode } from '../database/queries';
import { readVersion } from '../database/read-version';
import { AnswerCache, answerJson } from './answer-cache';
import { proposeOrThrow, readBarrier, type RestContext } from './context';
import { readNodes } from './present';
import { nextNodeLabels, parseNodeChanges } from './validation';
import type { Command } from '../database/commands';

/** Member nodes: list, one, availability (drain/activate) and labels. */
export function nodesRouter(ctx: RestContext): Router {
  const router = new Router();
  const find = (idOrName: string) => {
    const node = getNode(ctx.db, idOrName);
    if (!node) throw new BicycleError('NODE_NOT_FOUND', `no node with id or name ${idOrName}`);
    return node;
  };

  const answers = new AnswerCache(4);
  router.get('/nodes', async (k) => {
    await readBarrier(ctx, k.query);
    // One answer per second at most while nothing changes: uptimes are to the second.
    const now = ctx.now();
    answerJson(k, answers.get(readVersion(ctx.db).all, String(Math.floor(now / 1000)), () => ({ nodes: readNodes(ctx.db, now) })));
  });

  router.get('/nodes/:id', (k) => {
    const node = find(k.params.id!);
    k.body = readNodes(ctx.db, ctx.now()).find((n) => n.id === node.id);
  });

  router.patch('/nodes/:id', async (k) => {
    const node = find(k.params.id!);
    const changes = parseNodeChanges(k.request.body);
    const at = ctx.now();
    const commands: Command[] = [];
    if (changes.availability) commands.push({ type: 'node.set-availability', nodeId: node.id, availability: changes.availability, at });
    // Merged here, against the labels this node has applied; the command sets them whole.
    const labels = nextNodeLabels(node.labels, changes);
    if (labels) commands.push({ type: 'node.set-labels', nodeId: node.id, labels, at });
    if (commands.length > 0) await proposeOrThrow(ctx, commands.length === 1 ? commands[0]! : { type: 'batch', commands });
    if (changes.availability) ctx.log.info('node availability changed', { target: node.name, availability: changes.availability });
    if (labels) ctx.log.info('node labels changed', { target: node.name, labels: Object.keys(labels).join(',') });
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
