import type { Service, Task } from './types';

// Pure judgements on a service snapshot, used while the CLI waits.

const TERMINAL: ReadonlySet<string> = new Set(['COMPLETE', 'SHUTDOWN', 'FAILED', 'ORPHANED']);

/** `web.3` */
export function taskName(service: string, task: Pick<Task, 'slot'>): string {
  return `${service}.${task.slot}`;
}

/** What the caller knows of the rollout it waits for. */
export interface WaitGoal {
  /**
   * Tasks meant to run must be at least at this version: set by `update`,
   * which knows its own change made a newer spec even before the daemon has
   * created the first task from it.
   */
  minTaskVersion?: number;
}

function taskVersion(task: Task): number {
  return task.specVersion ?? task.version;
}

/** The newest version any task of the service was made from; 0 without tasks. */
export function newestTaskVersion(service: Service): number {
  return Math.max(0, ...service.tasks.map(taskVersion));
}

/**
 * The version every task meant to run must reach. service.version cannot be
 * used: the daemon bumps it on every change to the service (a scale too),
 * while a task's version is the version of the container spec it was made
 * from, which a scale leaves alone. So: the spec version when the daemon
 * exposes it (`specVersion`), else the newest task version, but at least
 * the goal's minTaskVersion.
 */
export function requiredTaskVersion(service: Service, goal: WaitGoal = {}): number {
  if (service.specVersion !== undefined) return service.specVersion;
  return Math.max(newestTaskVersion(service), goal.minTaskVersion ?? 0);
}

function wantedTasks(service: Service): Task[] {
  return service.tasks.filter((t) => t.desiredState === 'RUNNING');
}

/**
 * True when the service runs its replica count and every task meant to run
 * is RUNNING at the required version (see requiredTaskVersion).
 */
export function isConverged(service: Service, goal: WaitGoal = {}): boolean {
  if (service.running !== service.replicas) return false;
  const version = requiredTaskVersion(service, goal);
  return wantedTasks(service).every((t) => t.state === 'RUNNING' && taskVersion(t) >= version);
}

/**
 * One progress line: `web: 3/5 running`, with `, 2/5 updated` while some
 * tasks meant to run are still at an older version.
 */
export function progressText(service: Service, goal: WaitGoal = {}): string {
  const base = `${service.name}: ${service.running}/${service.replicas} running`;
  const version = requiredTaskVersion(service, goal);
  const wanted = wantedTasks(service);
  const updated = wanted.filter((t) => taskVersion(t) >= version).length;
  return updated < wanted.length ? `${base}, ${updated}/${service.replicas} updated` : base;
}

/**
 * What keeps a service from converging, for the timeout message: one line
 * per slot that is not RUNNING at the required version, with the task's
 * error or else the last failed attempt's, and one per task still running
 * beyond the replica count.
 */
export function pendingLines(service: Service, goal: WaitGoal = {}): string[] {
  const version = requiredTaskVersion(service, goal);
  const lines: string[] = [];
  for (let slot = 1; slot <= service.replicas; slot++) {
    const history = service.tasks.filter((t) => t.slot === slot).sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt));
    const current = history.find((t) => t.desiredState === 'RUNNING');
    if (current && current.state === 'RUNNING' && taskVersion(current) >= version) continue;
    const failed = history.filter((t) => t.state === 'FAILED');
    const name = taskName(service.name, { slot });
    const attempts = `${failed.length} failed attempt${failed.length > 1 ? 's' : ''}`;
    let line: string;
    if (!current) line = failed.length > 0 ? `${name}: waiting to restart after ${attempts}` : `${name}: no task yet`;
    else if (current.state === 'RUNNING') line = `${name}${where(current)}: RUNNING at version ${taskVersion(current)}, want ${version}`;
    else line = `${name}${where(current)}: ${current.state}, want RUNNING${failed.length > 0 ? ` (${attempts})` : ''}`;
    const error = current?.error ?? failed[0]?.error;
    if (error) line += `: ${error.trim()}`;
    lines.push(line);
  }
  for (const extra of wantedTasks(service).filter((t) => t.slot > service.replicas)) {
    lines.push(`${taskName(service.name, extra)}${where(extra)}: ${extra.state}, to be shut down`);
  }
  return lines;
}

function where(task: Task): string {
  return task.node ? ` on ${task.node}` : ' (unassigned)';
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
