import { IllegalTransitionError } from './task-state';

/** Node status as seen by the leader: READY (heard from), DOWN (missed its grace), UNKNOWN (not heard since start). */
export const NODE_STATUSES = ['UNKNOWN', 'READY', 'DOWN'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];
export const NODE_AVAILABILITIES = ['active', 'drain', 'pause'] as const;
export type NodeAvailability = (typeof NODE_AVAILABILITIES)[number];
export const NODE_ROLES = ['manager', 'worker'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

/**
 * How a worker hears of its tasks: `raft`, as a Raft learner holding the
 * whole log in its own database, or `session`, over a worker session with a
 * manager that answers only its own tasks (modules/sessions.ts).
 */
export const NODE_LINKS = ['raft', 'session'] as const;
export type NodeLink = (typeof NODE_LINKS)[number];

const NEXT: Record<NodeStatus, readonly NodeStatus[]> = {
  UNKNOWN: ['READY', 'DOWN'],
  READY: ['READY', 'DOWN', 'UNKNOWN'],
  DOWN: ['READY', 'DOWN'],
};

/** Returns `to` if the status change is legal, else throws IllegalTransitionError. */
export function transitionNodeStatus(from: NodeStatus, to: NodeStatus): NodeStatus {
  if (!NEXT[from].includes(to)) throw new IllegalTransitionError('node', from, to);
  return to;
}

/** Whether the scheduler may place new tasks on a node. */
export function isSchedulable(node: { status: NodeStatus; availability: NodeAvailability }): boolean {
  return node.status === 'READY' && node.availability === 'active';
}

/** What a user should hear about the number of managers (the quorum). */
export function managerWarnings(nodes: ReadonlyArray<{ role: NodeRole }>): string[] {
  const managers = nodes.filter((n) => n.role === 'manager').length;
  if (managers === 1 && nodes.length > 1) return ['1 manager: if it is lost the cluster stops taking changes; run 3 or 5 managers'];
  if (managers === 2) return [`${managers} managers: losing one stops the cluster (no majority); run 3 or 5`];
  if (managers > 3 && managers % 2 === 0) return [`${managers} managers: an even number tolerates no more failures than ${managers - 1}; run an odd number`];
  return [];
}
