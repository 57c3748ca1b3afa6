import { IllegalTransitionError } from './task-state';

/**
 * The service state machine:
 *   NEW → DEPLOYING → RUNNING | DEGRADED   (RUNNING ⇄ DEGRADED as replicas fail and recover)
 *   an update sends RUNNING | DEGRADED | DEPLOYING back to DEPLOYING
 *   any state but DELETING → DELETE → DELETING → removed
 */
export const SERVICE_STATES = ['NEW', 'DEPLOYING', 'RUNNING', 'DEGRADED', 'DELETE', 'DELETING'] as const;
export type ServiceState = (typeof SERVICE_STATES)[number];

const NEXT: Record<ServiceState, readonly ServiceState[]> = {
  NEW: ['DEPLOYING', 'DELETE'],
  DEPLOYING: ['DEPLOYING', 'RUNNING', 'DEGRADED', 'DELETE'],
  RUNNING: ['DEPLOYING', 'DEGRADED', 'DELETE'],
  DEGRADED: ['DEPLOYING', 'RUNNING', 'DELETE'],
  DELETE: ['DELETING'],
  DELETING: [],
};

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
