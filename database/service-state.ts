import { IllegalTransitionError } from './task-state';

/**
 * The service state machine:
 *   NEW → DEPLOYING → RUNNING | DEGRADED   (RUNNING ⇄ DEGRADED as replicas fail and recover)
 *   a scale sends RUNNING | DEGRADED | ROLLED_BACK back to DEPLOYING
 *   a new spec: → UPDATING → RUNNING, or → PAUSED (with the reason), or → ROLLING_BACK
 *   a rollback (automatic or asked for): → ROLLING_BACK → ROLLED_BACK, or → PAUSED
 *   any state but DELETING → DELETE → DELETING → removed
 * (docs/deployment.md, "Rolling updates").
 */
export const SERVICE_STATES = [
  'NEW', 'DEPLOYING', 'RUNNING', 'DEGRADED', 'UPDATING', 'PAUSED', 'ROLLING_BACK', 'ROLLED_BACK', 'DELETE', 'DELETING',
] as const;
export type ServiceState = (typeof SERVICE_STATES)[number];

const NEXT: Record<ServiceState, readonly ServiceState[]> = {
  NEW: ['DEPLOYING', 'DELETE'],
  DEPLOYING: ['DEPLOYING', 'RUNNING', 'DEGRADED', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
  RUNNING: ['DEPLOYING', 'DEGRADED', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
  DEGRADED: ['DEPLOYING', 'RUNNING', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
  UPDATING: ['UPDATING', 'RUNNING', 'PAUSED', 'ROLLING_BACK', 'DELETE'],
  PAUSED: ['UPDATING', 'ROLLING_BACK', 'RUNNING', 'DELETE'],
  ROLLING_BACK: ['ROLLED_BACK', 'PAUSED', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
  ROLLED_BACK: ['DEPLOYING', 'RUNNING', 'DEGRADED', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
  DELETE: ['DELETING'],
  DELETING: [],
};

/** States in which an update or a rollback is under way or stopped half-way: a scale keeps them. */
export function isRollingState(state: ServiceState): boolean {
  return state === 'UPDATING' || state === 'ROLLING_BACK' || state === 'PAUSED';
}

export function canTransitionService(from: ServiceState, to: ServiceState): boolean {
  return NEXT[from].includes(to);
}

/** Returns `to` if the move is legal, else throws IllegalTransitionError. */
export function transitionService(from: ServiceState, to: ServiceState): ServiceState {
  if (!canTransitionService(from, to)) throw new IllegalTransitionError('service', from, to);
  return to;
}

/** A service being deleted accepts no more updates. */
export function isServiceDeleting(state: ServiceState): boolean {
  return state === 'DELETE' || state === 'DELETING';
}
