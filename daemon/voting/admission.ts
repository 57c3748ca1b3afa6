import type { ConfState, NodeId } from './raft/index';

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
