import type { TaskRecord } from '../../database/queries';
import type { RestartPolicy } from '../../database/lifecycle';
import { restartDelayMs, type BackoffPolicy } from './restart-backoff';

/** What becomes of a slot whose replica has ended: replaced now, replaced later, or left ended. */
export type RestartDecision =
  | { kind: 'replace' }
  | { kind: 'wait'; until: number }
  | { kind: 'leave'; reason: string };

/** The dead tasks of one slot, as the restart policy reads them. */
export interface SlotEndings {
  /** The slot's most recently ended task, if any. */
  last: TaskRecord | null;
  /** Failures of the current spec version within the policy's window (all of them when the window is 0). */
  failuresInWindow: number;
  /** Failures within the back-off window, and the latest one's time. */
  recentFailures: number;
  lastFailureAt: number;
}

export function emptyEndings(): SlotEndings {
  return { last: null, failuresInWindow: 0, recentFailures: 0, lastFailureAt: 0 };
}

/** Adds one ended task of the slot to its endings. */
export function noteEnding(e: SlotEndings, task: TaskRecord, specVersion: number, policy: RestartPolicy, backoff: BackoffPolicy, now: number): void {
  if (!e.last || task.updatedAt > e.last.updatedAt) e.last = task;
  if (task.state !== 'FAILED') return;
  if (task.specVersion === specVersion && (policy.windowMs === 0 || now - task.updatedAt < policy.windowMs)) e.failuresInWindow++;
  if (now - task.updatedAt < backoff.windowMs) {
    e.recentFailures++;
    e.lastFailureAt = Math.max(e.lastFailureAt, task.updatedAt);
  }
}

/**
 * Swarm's restart policy for a slot with no live replica. A replica that
 * ended by itself (COMPLETE or FAILED) is replaced unless the condition says
 * otherwise (`none`; `on-failure` and an exit 0) or the slot has failed more
 * than `maxAttempts` times in the window; one that was stopped or lost
 * (SHUTDOWN, ORPHANED) is always replaced. A replacement after a failure
 * waits the fixed `delay`, or else the back-off. Pure.
 */
export function decideRestart(e: SlotEndings, policy: RestartPolicy, backoff: BackoffPolicy, now: number): RestartDecision {
  const last = e.last;
  const endedByItself = last !== null && (last.state === 'COMPLETE' || last.state === 'FAILED');
  if (endedByItself) {
    if (policy.condition === 'none') return { kind: 'leave', reason: `restart condition none: the replica ${last.state === 'COMPLETE' ? 'completed' : 'failed'} and is not replaced` };
    if (policy.condition === 'on-failure' && last.state === 'COMPLETE') return { kind: 'leave', reason: 'restart condition on-failure: the replica exited 0 and is COMPLETE' };
    if (policy.maxAttempts > 0 && e.failuresInWindow > policy.maxAttempts) {
      return { kind: 'leave', reason: `given up after ${e.failuresInWindow} failures (restart maxAttempts ${policy.maxAttempts})` };
    }
  }
  if (!last || last.state !== 'FAILED') return { kind: 'replace' };
  const readyAt = policy.delayMs !== null ? last.updatedAt + policy.delayMs : e.lastFailureAt + restartDelayMs(e.recentFailures, backoff);
  return readyAt > now ? { kind: 'wait', until: readyAt } : { kind: 'replace' };
}
