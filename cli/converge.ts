import type { Service, Task } from './types';
import { atRequiredVersion, hasHealth, isRollingServiceState as isRollingState, requiredTaskVersion, taskVersion, wantedTasks } from '../database/converged';

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
  /**
   * The spec version the caller's own change made (`update` reads it from
   * the daemon's answer): an automatic rollback from it is the update's
   * failure, not its success.
   */
  rolloutVersion?: number;
  /** Set by `rollback`: done once the rollback has completed, not merely converged. */
  rollback?: boolean;
  /** Give up (exit 1) once every replica has failed more than this many times at the required version. */
  maxFailures?: number;
}

// Converged is defined once, in database/converged.ts, for the CLI and the REST API's ?wait=true alike.
export { atRequiredVersion, isConverged, newestTaskVersion, requiredTaskVersion, wantedTasks, hasHealth, isRollingServiceState as isRollingState } from '../database/converged';

/**
 * One progress line: `web: 3/5 running`, with `, 2/5 updated` while some
 * tasks meant to run are still at an older version.
 */
export function progressText(service: Service, goal: WaitGoal = {}): string {
  const wanted = wantedTasks(service);
  const updated = wanted.filter((t) => atRequiredVersion(t, service, goal)).length;
  const healthy = hasHealth(service) ? `, ${service.healthy ?? service.running} healthy` : '';
  const failing = failingText(service, goal);
  if (isRollingState(service.state)) {
    const what = service.state === 'ROLLING_BACK' || service.updateStatus?.kind === 'rollback' ? 'rolled back' : 'updated';
    return `${service.name}: ${service.state} ${updated}/${service.replicas} ${what}${healthy}${failing}`;
  }
  const base = `${service.name}: ${service.running}/${service.replicas} running${healthy}`;
  return (updated < wanted.length ? `${base}, ${updated}/${service.replicas} updated` : base) + failing;
}


/** The failed attempts of each slot at the required version, newest first. */
export function failuresBySlot(service: Service, goal: WaitGoal = {}): Map<number, Task[]> {
  const bySlot = new Map<number, Task[]>();
  for (let slot = 1; slot <= service.replicas; slot++) bySlot.set(slot, []);
  for (const t of service.tasks) {
    if (t.state !== 'FAILED' || !bySlot.has(t.slot) || !atRequiredVersion(t, service, goal)) continue;
    bySlot.get(t.slot)!.push(t);
  }
  for (const list of bySlot.values()) list.sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt));
  return bySlot;
}

/** `; web.2 failed 3 times: <error>` for the slot that failed most recently while not running at the version, or ''. */
function failingText(service: Service, goal: WaitGoal): string {
  let newest: { slot: number; count: number; task: Task } | undefined;
  for (const [slot, failed] of failuresBySlot(service, goal)) {
    const serving = wantedTasks(service).some((t) => t.slot === slot && t.state === 'RUNNING' && atRequiredVersion(t, service, goal));
    const last = failed[0];
    if (serving || !last?.error) continue;
    if (!newest || Date.parse(last.updatedAt) > Date.parse(newest.task.updatedAt)) newest = { slot, count: failed.length, task: last };
  }
  if (!newest) return '';
  const times = newest.count === 1 ? 'once' : `${newest.count} times`;
  return `; ${taskName(service.name, { slot: newest.slot })} failed ${times}: ${newest.task.error!.trim()}`;
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
    if (current && current.state === 'RUNNING' && atRequiredVersion(current, service, goal)) continue;
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

// Draining a node and rebalancing a service.

/** `1 replica`, `4 replicas` */
function replicas(count: number): string {
  return `${count} replica${count === 1 ? '' : 's'}`;
}

/** The node a drain waits on, as the daemon answered it. */
export type NodeRef = { id: string; name: string };

function isOn(task: Task, node: NodeRef): boolean {
  return task.nodeId ? task.nodeId === node.id : task.node === node.name;
}

/** What is left on a node being drained, over every service. */
export interface DrainPicture {
  /** Tasks on the node still meant to run (desiredState RUNNING): to be moved. */
  toMove: { service: string; task: Task }[];
  /** Tasks on the node told to shut down that have not finished yet. */
  stopping: { service: string; task: Task }[];
}

export function drainPicture(services: readonly Service[], node: NodeRef): DrainPicture {
  const picture: DrainPicture = { toMove: [], stopping: [] };
  for (const service of services) {
    for (const task of service.tasks) {
      if (!isOn(task, node)) continue;
      if (task.desiredState === 'RUNNING') picture.toMove.push({ service: service.name, task });
      else if (!TERMINAL.has(task.state)) picture.stopping.push({ service: service.name, task });
    }
  }
  return picture;
}

/**
 * A drain is done when no task on the node is meant to run and the ones
 * told to stop have stopped, so the node's engine runs none of them.
 */
export function isDrained(picture: DrainPicture): boolean {
  return picture.toMove.length === 0 && picture.stopping.length === 0;
}

/** `4 replicas still to move`, then `2 replicas stopping`, then `drained`. */
export function drainStatus(picture: DrainPicture): string {
  if (picture.toMove.length > 0) return `${replicas(picture.toMove.length)} still to move`;
  if (picture.stopping.length > 0) return `${replicas(picture.stopping.length)} stopping`;
  return 'drained';
}

/** The progress line: `host-3: 4 replicas still to move`. */
export function drainText(node: NodeRef, picture: DrainPicture): string {
  return `${node.name}: ${drainStatus(picture)}`;
}

/** One line per task keeping a drain from finishing, for the timeout message. */
export function drainPendingLines(node: NodeRef, picture: DrainPicture): string[] {
  const line = (what: string) => ({ service, task }: { service: string; task: Task }) =>
    `${taskName(service, task)} on ${node.name}: ${task.state}, ${what}${task.error ? `: ${task.error.trim()}` : ''}`;
  const bySlot = (a: { service: string; task: Task }, b: { service: string; task: Task }) =>
    a.service.localeCompare(b.service) || a.task.slot - b.task.slot;
  return [
    ...[...picture.toMove].sort(bySlot).map(line('still to move')),
    ...[...picture.stopping].sort(bySlot).map(line('stopping')),
  ];
}

/**
 * Where a service's replicas meant to run are, by node name, sorted:
 * `host-1 3, host-2 2, host-3 1`, with `unassigned N` last when some wait
 * for a node.
 */
export function spreadText(service: Service): string {
  const counts = new Map<string, number>();
  let unassigned = 0;
  for (const task of wantedTasks(service)) {
    if (TERMINAL.has(task.state)) continue;
    if (task.node) counts.set(task.node, (counts.get(task.node) ?? 0) + 1);
    else unassigned++;
  }
  const parts = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([node, n]) => `${node} ${n}`);
  if (unassigned > 0) parts.push(`unassigned ${unassigned}`);
  return parts.join(', ') || 'no replicas';
}

/** `web: rebalancing, 6/6 running (host-1 4, host-2 2)`, then `web: balanced, …` once the daemon clears `rebalancing`. */
export function rebalanceText(service: Service): string {
  const what = service.rebalancing ? 'rebalancing' : 'balanced';
  return `${service.name}: ${what}, ${service.running}/${service.replicas} running (${spreadText(service)})`;
}
