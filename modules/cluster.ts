import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { BicycleError } from '../daemon/errors';
import { safeEqual } from '../daemon/secrets';
import { clusterSecret } from '../daemon/voting/cluster-node';
import { getMeta } from '../database/queries';
import type { VotingRequest } from '../daemon/messages';
import { RAFT_PATH } from '../daemon/voting/http-transport';
import { VOTING_PATH } from '../daemon/voting/peer-client';
import { JOIN_PATH } from '../daemon/voting/join-client';
import type { RestContext } from './context';
import { isLoopbackAddress } from './local-admin';

/** POST JOIN_PATH's body: the joining node and the join token (also the request body GET /openapi.json gives). */
export const joinRequestSchema = z.strictObject({
  token: z.string().min(1),
  node: z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/),
    address: z.string().regex(/^[^\s:]+:\d{1,5}$/),
    role: z.enum(['manager', 'worker']),
  }),
});

/**
 * Node-to-node endpoints. Raft messages and forwarded requests must carry the
 * cluster secret (`Authorization: Bearer …`); a join carries the join token
 * instead, checked by the leader. The join token itself is answered only to
 * a loopback client (local administration, modules/local-admin.ts).
 */
export function clusterRouter(ctx: RestContext): Router {
  const router = new Router();

  const requireSecret: Middleware = async (k, next) => {
    const secret = clusterSecret(ctx.db);
    const given = /^Bearer (.+)$/.exec(k.get('authorization'))?.[1];
    if (!secret || !given || !safeEqual(secret, given)) {
      throw new BicycleError('UNAUTHENTICATED', 'node-to-node requests need this cluster\'s secret');
    }
    await next();
  };

  router.post(RAFT_PATH, requireSecret, (k) => {
    const messages = k.request.body;
    if (!Array.isArray(messages)) throw new BicycleError('INVALID_ARGUMENT', 'expected a JSON array of Raft messages');
    ctx.deliverRaft(messages, k.get('x-bicycle-address') || null);
    k.status = 204;
  });

  router.post(VOTING_PATH, requireSecret, async (k) => {
    const request = k.request.body as VotingRequest;
    if (typeof request !== 'object' || request === null || !['propose', 'read', 'join', 'membership'].includes((request as { kind?: string }).kind ?? '')) {
      throw new BicycleError('INVALID_ARGUMENT', 'expected a voting request');
    }
    const forwarded = request.kind === 'membership' ? request : { ...request, forwarded: true };
    k.body = { reply: await ctx.voting.raw(forwarded) };
  });

  router.post(JOIN_PATH, async (k) => {
    const parsed = joinRequestSchema.safeParse(k.request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new BicycleError('INVALID_ARGUMENT', `join request: ${issue.path.join('.')}: ${issue.message}`);
    }
    k.body = { grant: await ctx.voting.join(parsed.data) };
  });

  // Until API tokens exist, whoever reaches a member's loopback administers the cluster; nobody else gets the token.
  router.get('/cluster/join-token', (k) => {
    if (!isLoopbackAddress(k.req.socket.remoteAddress)) {
      throw new BicycleError(
        'PERMISSION_DENIED',
        `the join token is handed out only to a client on this node's own host: run \`bicycle --host 127.0.0.1:${k.req.socket.localPort} node join-token\` on a member host, against its loopback`,
      );
    }
    const token = getMeta(ctx.db, 'join_token');
    if (!token) throw new BicycleError('UNAVAILABLE', 'the cluster is not initialised yet; retry shortly');
    k.body = { token, join: `--join ${ctx.advertise} --token ${token}` };
  });

  return router;
}
