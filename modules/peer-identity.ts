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
  if (getMeta(db, `${REVOKED_NODE_PREFIX}${nodeId}`)) {
    return { kind: 'refused', status: 403, message: `the node ${nodeId} was removed from this cluster: its certificate is revoked` };
  }
  return { kind: 'node', nodeId };
}

/**
 * The gate of every node-to-node route: over TLS the peer is its
 * certificate (signed by the cluster CA, not revoked; its node id goes to
 * `k.state.peerNodeId`), in clear (--insecure, loopback) the cluster
 * secret it sends as `Authorization: Bearer …`.
 */
export function requirePeer(db: Db): Middleware {
  return async (k, next) => {
    const peer = peerIdentity(db, k.req.socket);
    if (peer.kind === 'refused') throw new BicycleError(peer.status === 401 ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED', peer.message);
    if (peer.kind === 'node') {
      k.state.peerNodeId = peer.nodeId;
      return next();
    }
    const secret = clusterSecret(db);
    const given = /^Bearer (.+)$/.exec(k.get('authorization'))?.[1];
    if (!secret || !given || !safeEqual(secret, given)) throw new BicycleError('UNAUTHENTICATED', "node-to-node requests need this cluster's secret");
    return next();
  };
}
