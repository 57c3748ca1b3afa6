import { IllegalTransitionError } from './task-state';

/** Node status as seen by the leader: READY (heard from), DOWN (missed its grace), UNKNOWN (not heard since start). */
export const NODE_STATUSES = ['UNKNOWN', 'READY', 'DOWN'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];
export const NODE_AVAILABILITIES = ['active', 'drain', 'pause'] as const;
export type NodeAvailability = (typeof NODE_AVAILABILITIES)[number];
export const NODE_ROLES = ['manager', 'worker'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

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
