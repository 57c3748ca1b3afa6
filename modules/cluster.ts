import Router from '@koa/router';
import { z } from 'zod';
import { BicycleError } from '../daemon/errors';
import { getMeta, getNode } from '../database/queries';
import { JOIN_PATH, PEER_ADDRESS_HEADER, RAFT_PATH, VOTING_PATH, type CaAnswer, type JoinAnswer, type VotingAnswer, type VotingRequest } from '../daemon/cluster-protocol';
import type { RestContext } from './context';
import { raftBatchRefusal, requirePeer } from './peer-identity';
import { NodeTlsFiles } from '../daemon/tls/node-files';
import { fingerprintOf } from '../daemon/tls/ca';
import { newJoinToken } from '../daemon/tls/join-token';

/** POST JOIN_PATH's body: the joining node and the join token (also the request body GET /openapi.json gives). */
export const joinRequestSchema = z.strictObject({
  token: z.string().min(1),
  node: z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/),
    address: z.string().regex(/^[^\s:]+:\d{1,5}$/),
    role: z.enum(['manager', 'worker']),
  }),
  csr: z.string().startsWith('-----BEGIN CERTIFICATE REQUEST-----').max(8192).optional(),
  rejoin: z.boolean().optional(),
  store: z.enum(['memory', 'persisted']).optional(),
  link: z.enum(['raft', 'session']).optional(),
});

/**
 * Node-to-node endpoints. Raft messages and forwarded requests must carry the
 * cluster secret (`Authorization: Bearer …`); a join carries the join token
 * instead, checked by the leader. The join token itself is for admins
 * (modules/auth-policy.ts).
 */
export function clusterRouter(ctx: RestContext): Router {
  const router = new Router();

  const requireSecret = requirePeer(ctx.db);

  router.post(RAFT_PATH, requireSecret, (k) => {
    const messages = k.request.body as unknown[];
    const refusal = raftBatchRefusal(messages, k.state.peerNodeId as string | undefined);
    if (refusal) throw new BicycleError(refusal.code, refusal.message);
    ctx.deliverRaft(messages, k.get(PEER_ADDRESS_HEADER) || null);
    k.status = 204;
  });

  router.post(VOTING_PATH, requireSecret, async (k) => {
    const request = k.request.body as VotingRequest;
    if (typeof request !== 'object' || request === null || !['propose', 'read', 'join', 'membership', 'sign', 'caKey', 'seen'].includes((request as { kind?: string }).kind ?? '')) {
      throw new BicycleError('INVALID_ARGUMENT', 'expected a voting request');
    }
    if (request.kind === 'seen') {
      // Under mutual TLS only a manager passes on the session workers it heard from.
      const peerNodeId = k.state.peerNodeId as string | undefined;
      if (peerNodeId !== undefined && getNode(ctx.db, peerNodeId)?.role !== 'manager') throw new BicycleError('PERMISSION_DENIED', 'only a manager passes on the session workers it heard from');
      if (!Array.isArray(request.nodeIds) || !request.nodeIds.every((id) => typeof id === 'string')) throw new BicycleError('INVALID_ARGUMENT', 'seen: nodeIds must be an array of node ids');
    }
    if (request.kind === 'sign' || request.kind === 'caKey') {
      // A node renews its own certificate, and asks for the CA key for itself, only: the id is the one its current certificate names.
      const peerNodeId = k.state.peerNodeId as string | undefined;
      if (!peerNodeId) throw new BicycleError('PERMISSION_DENIED', request.kind === 'sign' ? 'a certificate is renewed over mutual TLS with the node\'s current certificate' : 'the CA key is handed over mutual TLS only, to the manager its certificate names');
      request.nodeId = peerNodeId;
    }
    const forwarded = request.kind === 'membership' ? request : { ...request, forwarded: true };
    k.body = { reply: await ctx.voting.raw(forwarded) } satisfies VotingAnswer;
  });

  router.post(JOIN_PATH, async (k) => {
    const parsed = joinRequestSchema.safeParse(k.request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new BicycleError('INVALID_ARGUMENT', `join request: ${issue.path.join('.')}: ${issue.message}`);
    }
    k.body = { grant: await ctx.voting.join(parsed.data) } satisfies JoinAnswer;
  });

  // What a joiner fetches first, trusting nothing yet: the cluster CA's certificate, which it checks against its token's fingerprint.
  router.get(JOIN_PATH, (k) => {
    const certificate = getMeta(ctx.db, 'ca_cert') ?? new NodeTlsFiles(ctx.dataDir).caCert();
    if (!certificate) throw new BicycleError('UNAVAILABLE', 'this cluster has no CA (founded before node certificates, or not initialised yet)');
    k.body = { certificate, fingerprint: fingerprintOf(certificate) } satisfies CaAnswer;
  });

  // `bicycle node join-token --rotate`: a new token replaces the old one, which admits nobody from then on (admin only, as reading it).
  router.post('/cluster/join-token', async (k) => {
    const clusterId = getMeta(ctx.db, 'cluster_id');
    const caCert = getMeta(ctx.db, 'ca_cert');
    if (!clusterId || !caCert) throw new BicycleError('UNAVAILABLE', 'the cluster is not initialised yet (or has no CA); retry shortly');
    const token = newJoinToken(clusterId, fingerprintOf(caCert));
    const result = await ctx.propose({ type: 'cluster.rotate-join-token', joinToken: token, at: ctx.now() });
    if (!result.ok) throw new BicycleError(result.error.code, result.error.message);
    k.body = { token, join: `--join ${ctx.advertise} --token ${token}` };
  });

  // Admin only (modules/auth-policy.ts): an admin token, or a tokenless client on this node's loopback.
  router.get('/cluster/join-token', (k) => {
    const token = getMeta(ctx.db, 'join_token');
    if (!token) throw new BicycleError('UNAVAILABLE', 'the cluster is not initialised yet; retry shortly');
    k.body = { token, join: `--join ${ctx.advertise} --token ${token}` };
  });

  return router;
}
