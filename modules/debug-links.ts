import { BroadcastChannel } from 'node:worker_threads';
import { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Db } from '../database/open-database';
import { listNodes } from '../database/queries';
import { fromErrorData } from '../daemon/errors';
import { CONTAINER_LOGS_PREFIX, SNAPSHOT_PREFIX, PEER_ADDRESS_HEADER, RAFT_PATH, VOTING_PATH, type VotingRequest } from '../daemon/cluster-protocol';
import { DEBUG_LINKS_CHANNEL, incomingCut, type DebugLinksNote, type LinkCut } from '../daemon/voting/debug-links';
import type { RestContext } from './context';
import { parseLinkChange } from './validation';

export const DEBUG_LINKS_PATH = '/debug/links';

/**
 * The REST thread's copy of the cut links. The voting thread holds the set
 * (daemon/voting/debug-link-table.ts) and posts it on every change; this
 * copy asks for it when it starts, and takes the set each answer to
 * /debug/links carries, so a cut is in force here before its POST answers.
 */
export class InboundLinkCuts {
  private cuts: LinkCut[] = [];
  private readonly channel = new BroadcastChannel(DEBUG_LINKS_CHANNEL);

  constructor() {
    this.channel.unref();
    this.channel.onmessage = (event) => {
      const note = (event as { data: DebugLinksNote }).data;
      if (note?.kind === 'cuts') this.cuts = note.cuts;
    };
    const ask: DebugLinksNote = { kind: 'ask' };
    this.channel.postMessage(ask);
  }

  current(): readonly LinkCut[] {
    return this.cuts;
  }

  set(cuts: LinkCut[]): void {
    this.cuts = cuts;
  }
}

function isNodeToNode(path: string): boolean {
  return path === RAFT_PATH || path === VOTING_PATH || path.startsWith(CONTAINER_LOGS_PREFIX) || path.startsWith(SNAPSHOT_PREFIX);
}

/**
 * Outermost middleware: a node-to-node request (Raft, forwarded requests, a
 * peer's container log) from a peer whose inbound link is cut gets no
 * answer at all: its connection is destroyed, so the peer sees a network
 * fault, as under a real partition, not an HTTP error it would act on.
 */
export function inboundLinkGate(db: Db, cuts: InboundLinkCuts): Middleware {
  return async (k, next) => {
    if (!isNodeToNode(k.path) || !isCutInbound(db, cuts, k.req.socket, k.get(PEER_ADDRESS_HEADER) || undefined)) return next();
    k.respond = false;
    k.req.socket.destroy();
  };
}

/** True while the link from the peer on this connection (its certificate, else the address it claims, else its IP) is cut inward. */
export function isCutInbound(db: Db, cuts: InboundLinkCuts, socket: Socket, claimedAddress: string | undefined): boolean {
  if (cuts.current().length === 0) return false;
  const certificateNodeId = socket instanceof TLSSocket && socket.authorized ? String(socket.getPeerCertificate().subject?.CN ?? '') || undefined : undefined;
  return incomingCut(cuts.current(), { certificateNodeId, claimedAddress, remoteIp: socket.remoteAddress }, listNodes(db)) !== undefined;
}

/**
 * GET and POST /debug/links (docs/rest.md, "Cutting links on demand"):
 * admin only (modules/auth-policy.ts), and refused with
 * DEBUG_LINKS_DISABLED unless the daemon runs with --debug-links (the
 * voting thread, which knows the flag, answers). Both answer the cut set.
 */
export function debugLinksRouter(ctx: RestContext, cuts: InboundLinkCuts): Router {
  const router = new Router();

  const ask = async (request: Extract<VotingRequest, { kind: 'links' }>): Promise<{ links: LinkCut[] }> => {
    const reply = await ctx.voting.raw(request);
    if (!reply.ok) throw fromErrorData(reply.error);
    const links = reply.links ?? [];
    cuts.set(links);
    return { links };
  };

  router.get(DEBUG_LINKS_PATH, async (k) => {
    k.body = await ask({ kind: 'links' });
  });

  router.post(DEBUG_LINKS_PATH, async (k) => {
    // Refused as off before the body is judged: the first thing to hear is how to turn the feature on.
    await ask({ kind: 'links' });
    k.body = await ask({ kind: 'links', change: parseLinkChange(k.request.body) });
  });

  return router;
}
