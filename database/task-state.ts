/**
 * The task state machine. A task is one replica: one slot of a service, one
 * container. `state` is what was observed and only moves forward along this
 * order (of two observations, the greater wins); `desiredState` is what the
 * orchestrator wants (RUNNING or SHUTDOWN).
 */
export const TASK_STATES = ['NEW', 'ASSIGNED', 'STARTING', 'RUNNING', 'COMPLETE', 'SHUTDOWN', 'FAILED', 'ORPHANED'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export type DesiredTaskState = 'RUNNING' | 'SHUTDOWN';

/** Ordered with gaps, so a state can be added between two without renumbering. */
const ORDER: Record<TaskState, number> = {
  NEW: 0,
  ASSIGNED: 192,
  STARTING: 448,
  RUNNING: 512,
  COMPLETE: 576,
  SHUTDOWN: 640,
  FAILED: 704,
  ORPHANED: 832,
};

export function taskStateOrder(state: TaskState): number {
  return ORDER[state];
}

/** COMPLETE, SHUTDOWN, FAILED and ORPHANED are final: the container is gone or will never run again. */
export function isTerminalTaskState(state: TaskState): boolean {
  return ORDER[state] > ORDER.RUNNING;
}

export class IllegalTransitionError extends Error {
  constructor(readonly entity: string, readonly from: string, readonly to: string) {
    super(`${entity} cannot move from ${from} to ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

/**
 * Decides a task's next observed state. Moves only forward; a terminal state
 * is final. Observing the current state again is allowed (idempotent reports).
 * Throws IllegalTransitionError for a backward move.
 */
export function transitionTask(from: TaskState, to: TaskState): TaskState {
  if (from === to) return to;
  if (isTerminalTaskState(from) || ORDER[to] < ORDER[from]) {
    throw new IllegalTransitionError('task', from, to);
  }
  return to;
}

/**
 * A running task's health, as its container's engine reports it: `none`
 * when the container has no health check, else Docker's `starting`,
 * `healthy` or `unhealthy`.
 */
export const TASK_HEALTH = ['none', 'starting', 'healthy', 'unhealthy'] as const;
export type TaskHealth = (typeof TASK_HEALTH)[number];

/** A replica that may receive traffic and counts as up: running, and healthy if it has a check. */
export function isServing(task: { state: TaskState; health: TaskHealth | null }): boolean {
  return task.state === 'RUNNING' && (task.health === null || task.health === 'none' || task.health === 'healthy');
}
