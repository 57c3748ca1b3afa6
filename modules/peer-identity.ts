import { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Middleware } from 'koa';
import type { Db } from '../database/open-database';
import { getMeta } from '../database/queries';
import { REVOKED_NODE_PREFIX } from '../database/apply-command';
import { BicycleError } from '../daemon/errors';
import { safeEqual } from '../daemon/secrets';
import { clusterSecret } from '../daemon/cluster-protocol';

/** Who a node-to-node request comes from, as its connection says. */
export type PeerIdentity =
  /** A plain HTTP connection (--insecure, or loopback): the cluster secret must say it. */
  | { kind: 'clear' }
  /** Mutual TLS with a certificate the cluster CA signed, naming `nodeId`, not revoked. */
  | { kind: 'node'; nodeId: string }
  | { kind: 'refused'; status: 401 | 403; message: string };

/**
 * The peer of a connection to the API listener. The TLS server already
 * drops a connection whose certificate the CA did not sign (see
 * daemon/tls/api-server.ts); what reaches here without one is a client (the
 * CLI) asking a node-to-node route, or a removed node, whose certificate is
 * still valid but on the deny list.
 */
export function peerIdentity(db: Db, socket: Socket): PeerIdentity {
  if (!(socket instanceof TLSSocket)) return { kind: 'clear' };
  if (!socket.authorized) {
    const why = socket.authorizationError ? String(socket.authorizationError) : 'no certificate';
    return { kind: 'refused', status: 401, message: `node-to-node requests need a node certificate signed by this cluster's CA (${why})` };
  }
  const nodeId = String(socket.getPeerCertificate().subject?.CN ?? '');
  if (!nodeId) return { kind: 'refused', status: 401, message: 'the node certificate names no node id' };
  const revoked = revokedReason(db, nodeId);
  if (revoked) return { kind: 'refused', status: 403, message: revoked };
  return { kind: 'node', nodeId };
}

/** Why a node's certificate no longer admits it (the node was removed: the deny list), or undefined. */
export function revokedReason(db: Db, nodeId: string): string | undefined {
  return getMeta(db, `${REVOKED_NODE_PREFIX}${nodeId}`) ? `the node ${nodeId} was removed from this cluster: its certificate is revoked` : undefined;
}

/**
 * Why a batch of Raft messages from a peer is refused: not a JSON array, or
 * (over mutual TLS) a message from another node than the certificate names;
 * undefined when it may go to Raft. The same for a POST and the Raft stream.
 */
export function raftBatchRefusal(messages: unknown, peerNodeId: string | undefined): { code: 'INVALID_ARGUMENT' | 'PERMISSION_DENIED'; message: string } | undefined {
  if (!Array.isArray(messages)) return { code: 'INVALID_ARGUMENT', message: 'expected a JSON array of Raft messages' };
  const forged = peerNodeId === undefined ? undefined : messages.find((m: { from?: unknown }) => m?.from !== peerNodeId);
  if (!forged) return undefined;
  return { code: 'PERMISSION_DENIED', message: `a Raft message from ${String((forged as { from?: unknown }).from)} came with the certificate of ${peerNodeId}: a node sends only its own messages` };
}

/** A node-to-node caller, authenticated: its node id over mutual TLS (absent in clear, where the cluster secret said it). */
export type PeerCheck = { ok: true; peerNodeId?: string } | { ok: false; code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED'; message: string };

/**
 * Over TLS the peer is its certificate (signed by the cluster CA, not
 * revoked), in clear (--insecure, loopback) the cluster secret it sends as
 * `Authorization: Bearer …`.
 */
export function authenticatePeer(db: Db, socket: Socket, authorization: string | undefined): PeerCheck {
  const peer = peerIdentity(db, socket);
  if (peer.kind === 'refused') return { ok: false, code: peer.status === 401 ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED', message: peer.message };
  if (peer.kind === 'node') return { ok: true, peerNodeId: peer.nodeId };
  const secret = clusterSecret(db);
  const given = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (!secret || !given || !safeEqual(secret, given)) return { ok: false, code: 'UNAUTHENTICATED', message: "node-to-node requests need this cluster's secret" };
  return { ok: true };
}

/** The gate of every node-to-node route (authenticatePeer); over TLS the peer's node id goes to `k.state.peerNodeId`. */
export function requirePeer(db: Db): Middleware {
  return async (k, next) => {
    const check = authenticatePeer(db, k.req.socket, k.get('authorization'));
    if (!check.ok) throw new BicycleError(check.code, check.message);
    if (check.peerNodeId !== undefined) k.state.peerNodeId = check.peerNodeId;
    return next();
  };
}
