import type { ConfState, NodeId } from './raft/index';
import type { ErrorData } from '../errors';
import type { JoinGrant, JoinRequest } from '../cluster-protocol';
import { safeEqual } from '../secrets';

/** What the leader knows of a member when it admits a new node. */
export interface Member {
  readonly id: NodeId;
  readonly name: string;
  readonly address: string;
}

/** Why a join is refused: it would take a member's identity. */
export interface JoinClash {
  readonly code: 'NODE_EXISTS';
  /** Which of the joiner's id, name or address is taken, and by whom; what to do instead. */
  readonly message: string;
}

/**
 * Whether a joining node would take an existing member's id, name or
 * address. A join never changes a member: a member that restarts keeps its
 * identity in its data directory and does not join again, so a join that
 * claims a member's id (or its name, or the address it is reached at) is
 * someone else's — refused, and nothing changes. `conf` catches an id the
 * Raft configuration holds without a node row yet.
 * @returns null when the joiner is new in all three
 */
export function findJoinClash(members: readonly Member[], conf: ConfState, node: Member): JoinClash | null {
  const byId = members.find((m) => m.id === node.id);
  if (byId !== undefined || conf.voters.includes(node.id) || conf.learners.includes(node.id)) {
    const who = byId === undefined ? 'a member of the Raft configuration' : `member ${byId.name} (${byId.address})`;
    return clash(
      `the node id ${node.id} is already ${who}'s; a member that restarts keeps its identity in its data directory and does not join again — ` +
        'start a new node with an empty data directory, or remove the old one first with `bicycle node rm NAME`',
    );
  }
  const byName = members.find((m) => m.name === node.name);
  if (byName !== undefined) {
    return clash(`a node named ${node.name} is already a member (id ${byName.id}, ${byName.address}); choose another --name, or remove it first with \`bicycle node rm ${node.name}\``);
  }
  const byAddress = members.find((m) => m.address === node.address);
  if (byAddress !== undefined) {
    return clash(`the address ${node.address} is already member ${byAddress.name}'s (id ${byAddress.id}); advertise another --advertise host:port, or remove ${byAddress.name} first with \`bicycle node rm ${byAddress.name}\``);
  }
  return null;
}

function clash(message: string): JoinClash {
  return { code: 'NODE_EXISTS', message };
}

/**
 * Whether a Raft message comes from a stranger: a node neither in this
 * node's configuration nor registered (never joined, or removed). Its
 * messages are dropped where they enter, with one exception that keeps a
 * lagging node live: a leader's message (append, heartbeat, snapshot) goes
 * on to the core, which takes it only when it has no live leader (the
 * sender may be a voter added by entries this node has not received yet).
 * A node that knows no configuration yet (a joiner) has no strangers.
 */
export function isFromStranger(type: string, from: NodeId, conf: ConfState, isRegistered: (id: NodeId) => boolean): boolean {
  if (conf.voters.length === 0 && conf.learners.length === 0) return false;
  if (conf.voters.includes(from) || conf.learners.includes(from)) return false;
  if (type === 'append' || type === 'heartbeat' || type === 'snapshot') return false;
  return !isRegistered(from);
}

/** What the leader does with a member that a memory-store joiner names (`findMemoryPredecessor`). */
export type Predecessor =
  | { readonly kind: 'none' }
  /** Lost (DOWN): removed as `bicycle node rm` would, so the joiner can take its name and address. */
  | { readonly kind: 'replace'; readonly member: Member }
  /** Still heard from: the join is answered UNAVAILABLE (retryable) until the leader marks it lost. */
  | { readonly kind: 'wait'; readonly member: Member; readonly message: string };

/**
 * A node with `--store memory` is a new node at every start (new id, new
 * certificate), but it comes back with its old name and address: the one
 * case where a join may take them. Only a member with both the same name and
 * the same address (and another id) is its predecessor, and only once it is
 * lost, so a live member is never pushed out by a namesake.
 */
export function findMemoryPredecessor(members: ReadonlyArray<Member & { readonly status: string }>, node: Member): Predecessor {
  const member = members.find((m) => m.name === node.name && m.address === node.address && m.id !== node.id);
  if (member === undefined) return { kind: 'none' };
  if (member.status === 'DOWN') return { kind: 'replace', member };
  return {
    kind: 'wait',
    member,
    message: `member ${member.name} (id ${member.id}) at ${member.address} is still up: a memory node that restarted takes its place once the cluster marks it lost (after hostGraceMs without a heartbeat); retrying`,
  };
}

/**
 * Why the leader refuses a join before looking at the joiner's identity: a
 * token that is not this cluster's, or a node id removed from the cluster
 * (its certificates are revoked). Null when the join may go on.
 */
export function joinRefusal(request: Pick<JoinRequest, 'token' | 'node' | 'link'>, joinToken: string | undefined, isRevoked: (id: NodeId) => boolean): ErrorData | null {
  if (!joinToken || !safeEqual(joinToken, request.token)) {
    return { code: 'PERMISSION_DENIED', message: 'the join token is not valid for this cluster (get one with `bicycle node join-token` on a member)' };
  }
  if (request.link === 'session' && request.node.role === 'manager') {
    return { code: 'INVALID_ARGUMENT', message: 'a manager votes, so it holds the whole log: only a worker joins with link "session"' };
  }
  if (isRevoked(request.node.id)) {
    return { code: 'PERMISSION_DENIED', message: `the node id ${request.node.id} was removed from this cluster and its certificates are revoked; start the node with an empty data directory to join as a new node` };
  }
  return null;
}

/**
 * A member back after its certificate expired (moby/moby#42660) renews it
 * with a valid join token only as itself: the same id, name and address its
 * row records, with a certificate request. Null when it may.
 */
export function rejoinRefusal(member: Member | undefined, request: Pick<JoinRequest, 'node' | 'csr'>): ErrorData | null {
  const { node } = request;
  if (!member || member.name !== node.name || member.address !== node.address) {
    return { code: 'NODE_NOT_FOUND', message: `no member ${node.name} with id ${node.id} at ${node.address} to renew; a new node joins with an empty data directory` };
  }
  if (!request.csr) return { code: 'INVALID_ARGUMENT', message: 'a rejoin needs a certificate request (csr)' };
  return null;
}

/** A member as the leader finds it when it asks for something of its own (a renewed certificate, the CA key). */
export type MemberLookup = { readonly revoked: boolean; readonly member: (Member & { readonly role: 'manager' | 'worker' }) | undefined };

/** A member renews its certificate (for the id and address its row records) unless it was removed. */
export function renewalRefusal(nodeId: NodeId, found: MemberLookup): ErrorData | null {
  if (found.revoked) return { code: 'PERMISSION_DENIED', message: `the node ${nodeId} was removed from this cluster` };
  if (!found.member) return { code: 'NODE_NOT_FOUND', message: `no member with id ${nodeId}` };
  return null;
}

/** The CA key goes to a manager only (docs/security.md), and only from a leader that holds it. */
export function caKeyRefusal(nodeId: NodeId, found: MemberLookup, leaderHoldsKey: boolean): ErrorData | null {
  const refused = renewalRefusal(nodeId, found);
  if (refused) return refused;
  if (found.member!.role !== 'manager') return { code: 'PERMISSION_DENIED', message: `${found.member!.name} is a worker: the CA key is for managers only` };
  if (!leaderHoldsKey) return { code: 'UNAVAILABLE', message: 'the leader does not hold the cluster CA key either' };
  return null;
}

/** What goes into a grant, as the leader holds it. */
export interface GrantFacts {
  readonly clusterId: string | undefined;
  readonly clusterSecret: string | undefined;
  readonly leaderId: NodeId;
  /** Member node id → the address this leader reaches it at. */
  readonly members: Record<string, string>;
  readonly role: 'manager' | 'worker';
  readonly certificate: string | undefined;
  readonly ca: { readonly certPem: string; readonly keyPem: string } | undefined;
}

/** A join grant. Managers get the CA key too: whichever of them leads signs the next joiner's certificate; workers get its certificate only. */
export function buildGrant(facts: GrantFacts): JoinGrant {
  const { ca } = facts;
  return {
    clusterId: facts.clusterId ?? '',
    clusterSecret: facts.clusterSecret ?? '',
    leaderId: facts.leaderId,
    members: facts.members,
    ...(facts.certificate ? { certificate: facts.certificate } : {}),
    ...(ca ? { ca: facts.role === 'manager' ? { certPem: ca.certPem, keyPem: ca.keyPem } : { certPem: ca.certPem } } : {}),
  };
}
