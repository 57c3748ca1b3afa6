import { failuresBySlot, isConverged, pendingLines, taskName, wantedTasks, atRequiredVersion, type WaitGoal } from './converge';
import type { Service } from './types';

// Whether a wait for a service is over, and how: a pure judgement on one
// snapshot, so `add`, `update` and `rollback` exit non-zero saying why.

export type Verdict =
  | { done: false }
  | { done: true; ok: true }
  | { done: true; ok: false; message: string };

const WAIT: Verdict = { done: false };
const OK: Verdict = { done: true, ok: true };
const fail = (message: string): Verdict => ({ done: true, ok: false, message });

/**
 * - PAUSED: the update (or rollback) stopped at its failure action; the
 *   daemon's reason is `updateStatus.message`.
 * - A rollback from the version the caller's update made (`rolloutVersion`):
 *   the update failed and was rolled back, once the rollback completes.
 * - `rollback`: done when the rollback completed and the service converged.
 * - `maxFailures`: every replica failed more than that many times at the
 *   required version (and none runs it): give up rather than wait forever.
 * - else done when converged (isConverged).
 */
export function rolloutVerdict(service: Service, goal: WaitGoal = {}): Verdict {
  const status = service.updateStatus ?? null;
  if (service.state === 'PAUSED') {
    const what = status?.kind === 'rollback' ? 'rollback' : 'update';
    return fail(
      `${service.name}: ${what} paused: ${status?.message ?? 'no reason given'}` +
        `\nresume it by changing its policies (bicycle service update ${service.name} --update-…), or go back with: bicycle service rollback ${service.name}`,
    );
  }
  const rolledBackFromOurs = goal.rolloutVersion !== undefined && status?.kind === 'rollback' && status.fromVersion === goal.rolloutVersion;
  if (rolledBackFromOurs) {
    if (service.state === 'ROLLED_BACK' || status.completedAt !== null) {
      return fail(`${service.name}: update rolled back: ${status.message ?? 'no reason given'} (back on version ${status.toVersion})`);
    }
    return WAIT;
  }
  const gaveUp = givenUp(service, goal);
  if (gaveUp) return fail(gaveUp);
  if (goal.rollback) {
    const completed = status?.kind === 'rollback' && status.completedAt !== null;
    return completed && isConverged(service, goal) ? OK : WAIT;
  }
  return isConverged(service, goal) ? OK : WAIT;
}

/** The message when every replica has failed more than `goal.maxFailures` times, else null. */
function givenUp(service: Service, goal: WaitGoal): string | null {
  if (goal.maxFailures === undefined || service.replicas === 0) return null;
  const failures = failuresBySlot(service, goal);
  for (const [slot, failed] of failures) {
    if (failed.length <= goal.maxFailures) return null;
    const serving = wantedTasks(service).some((t) => t.slot === slot && t.state === 'RUNNING' && atRequiredVersion(t, service, goal));
    if (serving) return null;
  }
  const newest = [...failures.values()].map((f) => f[0]!).sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt))[0]!;
  const details = pendingLines(service, goal).map((line) => `\n  ${line}`).join('');
  return (
    `${service.name}: every replica failed more than ${goal.maxFailures} time${goal.maxFailures === 1 ? '' : 's'}; ` +
    `the last, ${taskName(service.name, newest)}: ${newest.error?.trim() || 'no reason given'}${details}` +
    `\nthe daemon keeps trying; fix the spec with bicycle service update ${service.name}, or remove it with bicycle service rm ${service.name}`
  );
}
