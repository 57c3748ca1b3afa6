import type { ErrorData } from '../errors';

/**
 * Links cut on demand (`bicycled --debug-links`, docs/voting.md, "Cutting
 * links on demand"): the pure part. A cut names a peer and a direction; the
 * voting thread holds the set (in memory only: a restart brings every link
 * back up) and drops what it would send to the peer, the REST thread drops
 * what the peer sends to this node's listener. No clock, no I/O here.
 */
export type LinkDirection = 'both' | 'in' | 'out';

/** One cut link, as GET /debug/links lists it. */
export interface LinkCut {
  peerId: string;
  name: string;
  address: string;
  direction: LinkDirection;
  /** When it was cut, ISO 8601. */
  since: string;
}

/** What POST /debug/links asks: cut the link to `peer` (a node id or name) in `direction`, or bring it up. */
export interface LinkChange {
  peer: string;
  state: 'cut' | 'up';
  direction?: LinkDirection;
}

/** A member as far as a cut needs to know it. */
export interface LinkPeer {
  id: string;
  name: string;
  address: string;
}

export type LinkChangeResult = { ok: true; cuts: LinkCut[] } | { ok: false; error: ErrorData };

/**
 * The cut set after `change`: a cut replaces any earlier cut of the same
 * peer (so `cut --direction out` after `cut` narrows it), `up` removes it
 * (bringing up a link that is not cut is not an error). Refuses this node
 * itself and a peer that is not a member (NOT_FOUND naming it).
 */
export function applyLinkChange(cuts: readonly LinkCut[], change: LinkChange, selfId: string, members: readonly LinkPeer[], nowIso: string): LinkChangeResult {
  const peer = members.find((m) => m.id === change.peer) ?? members.find((m) => m.name === change.peer);
  if (!peer) {
    const known = members.filter((m) => m.id !== selfId).map((m) => m.name);
    return { ok: false, error: { code: 'NODE_NOT_FOUND', message: `peer: no member with id or name ${change.peer}${known.length ? ` (peers: ${known.join(', ')})` : ' (this node has no peers)'}` } };
  }
  if (peer.id === selfId) return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `peer: ${peer.name} is this node; name one of its peers` } };
  const others = cuts.filter((c) => c.peerId !== peer.id);
  if (change.state === 'up') return { ok: true, cuts: others };
  return { ok: true, cuts: [...others, { peerId: peer.id, name: peer.name, address: peer.address, direction: change.direction ?? 'both', since: nowIso }] };
}

/** Whether what this node sends to `peerId` (Raft messages, forwarded requests) is dropped. */
export function dropsOutgoing(cuts: readonly LinkCut[], peerId: string): boolean {
  return cuts.some((c) => c.peerId === peerId && c.direction !== 'in');
}

/** What a request to this node's listener says of where it comes from. */
export interface IncomingFacts {
  /** The node id its mutual TLS certificate names, if it came with one. */
  certificateNodeId?: string;
  /** The `x-bicycle-address` header (where the sender says it listens), if any. */
  claimedAddress?: string;
  /** The connection's remote IP address. */
  remoteIp?: string;
}

/**
 * The cut peer a node-to-node request comes from, if its inbound link is
 * cut; undefined lets it through. The peer is its certificate when it has
 * one (mutual TLS); in clear HTTP the address it says it listens on, else
 * the connection's IP when exactly one member has that host (on one machine
 * with several daemons on 127.0.0.1 the IP names nobody).
 */
export function incomingCut(cuts: readonly LinkCut[], facts: IncomingFacts, members: readonly LinkPeer[]): LinkCut | undefined {
  const inbound = cuts.filter((c) => c.direction !== 'out');
  if (inbound.length === 0) return undefined;
  let peerId: string | undefined = facts.certificateNodeId;
  if (peerId === undefined && facts.claimedAddress) peerId = members.find((m) => m.address === facts.claimedAddress)?.id;
  if (peerId === undefined && facts.remoteIp) {
    const ip = facts.remoteIp.replace(/^::ffff:/, '');
    const sameHost = members.filter((m) => hostOf(m.address) === ip);
    if (sameHost.length === 1) peerId = sameHost[0]!.id;
  }
  return peerId === undefined ? undefined : inbound.find((c) => c.peerId === peerId);
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

/** The BroadcastChannel on which the voting thread posts the cut set (and any thread may ask for it). */
export const DEBUG_LINKS_CHANNEL = 'bicycle.debug-links';

export type DebugLinksNote = { kind: 'cuts'; cuts: LinkCut[] } | { kind: 'ask' };

/** The answer to a link request on a daemon started without --debug-links. */
export const DEBUG_LINKS_DISABLED_MESSAGE = 'cutting links is off on this node: start bicycled with --debug-links (or debugLinks: true in config.json, BICYCLE_DEBUG_LINKS=true) to use /debug/links';
