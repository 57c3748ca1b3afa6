import type { Service, Task } from './types';

// Pure judgements on a service snapshot, used while the CLI waits.

const TERMINAL: ReadonlySet<string> = new Set(['COMPLETE', 'SHUTDOWN', 'FAILED', 'ORPHANED']);

/** `web.3` */
export function taskName(service: string, task: Pick<Task, 'slot'>): string {
  return `${service}.${task.slot}`;
}

/**
 * The version a task must reach. The contract compares task.version with
 * service.version; should the daemon also expose `specVersion` (the part of
 * the version a scale does not bump, which is what tasks carry), that is the
 * one to compare, or a scale would look like a rollout that never ends.
 */
export function targetVersion(service: Service): number {
  return service.specVersion ?? service.version;
}

function taskVersion(task: Task): number {
  return task.specVersion ?? task.version;
}

function isTaskConverged(service: Service, task: Task): boolean {
  return task.state === 'RUNNING' && taskVersion(task) === targetVersion(service);
}

/**
 * True when the service runs its replica count and every task meant to run
 * is RUNNING at the service's current version.
 */
export function isConverged(service: Service): boolean {
  if (service.running !== service.replicas) return false;
  return service.tasks.filter((t) => t.desiredState === 'RUNNING').every((t) => isTaskConverged(service, t));
}

/**
 * One progress line: `web: 3/5 running`, with `, 2/5 updated` while some
 * tasks meant to run are still at an older version.
 */
export function progressText(service: Service): string {
  const base = `${service.name}: ${service.running}/${service.replicas} running`;
  const wanted = service.tasks.filter((t) => t.desiredState === 'RUNNING');
  const stale = wanted.some((t) => taskVersion(t) !== targetVersion(service));
  if (!stale) return base;
  const updated = wanted.filter((t) => taskVersion(t) === targetVersion(service)).length;
  return `${base}, ${updated}/${service.replicas} updated`;
}

/**
 * What keeps a service from converging, for the timeout message: one line
 * per task meant to run that is not RUNNING at the current version, then
 * every other task that carries an error.
 */
export function pendingLines(service: Service): string[] {
  const lines: string[] = [];
  const missing = service.replicas - service.tasks.filter((t) => t.desiredState === 'RUNNING').length;
  if (missing > 0) lines.push(`${missing} replica(s) have no task yet`);
  const bySlot = [...service.tasks].sort((a, b) => a.slot - b.slot);
  for (const task of bySlot) {
    const pending = task.desiredState === 'RUNNING' && !isTaskConverged(service, task);
    if (!pending && !task.error) continue;
    const where = task.node ? ` on ${task.node}` : ' (unassigned)';
    const what = pending
      ? task.state === 'RUNNING'
        ? `RUNNING at version ${taskVersion(task)}, want ${targetVersion(service)}`
        : `${task.state}, want RUNNING`
      : `${task.state}`;
    lines.push(`${taskName(service.name, task)}${where}: ${what}${task.error ? ` (error: ${task.error})` : ''}`);
  }
  return lines;
}

/** Tasks of a service being removed that have not finished. */
export function liveTaskCount(service: Service): number {
  return service.tasks.filter((t) => !TERMINAL.has(t.state)).length;
}

/** One line per task of a service being removed that has not finished. */
export function liveTaskLines(service: Service): string[] {
  return [...service.tasks]
    .filter((t) => !TERMINAL.has(t.state))
    .sort((a, b) => a.slot - b.slot)
    .map((t) => `${taskName(service.name, t)}${t.node ? ` on ${t.node}` : ''}: ${t.state}${t.error ? ` (error: ${t.error})` : ''}`);
}

/** `web: removing, 2 task(s) left`, or `web: removed` once gone (null). */
export function removalText(name: string, service: Service | null): string {
  if (!service) return `${name}: removed`;
  return `${name}: removing, ${liveTaskCount(service)} task(s) left`;
}
