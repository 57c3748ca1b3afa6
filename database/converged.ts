/**
 * Converged, defined once for whoever waits on a service: the CLI while
 * `service add/update/scale/rollback` wait (cli/converge.ts), and the REST
 * API's `?wait=true` (modules/services.ts), on the service as the API
 * presents it. The orchestrator (daemon/deployment/orchestrator.ts) is what
 * brings a service there and says so by moving it to RUNNING; the REST wait
 * asks for both, so an answer never shows a state older than the verdict.
 * Pure: a snapshot in, a judgement out.
 */

/** A task as the API presents it, as far as convergence looks. */
export interface ConvergeTask {
  state: string;
  desiredState: string;
  /** The version of the container spec it was made from (absent from older daemons: `version`). */
  specVersion?: number;
  version: number;
  health?: string | null;
}

/** A service as the API presents it, as far as convergence looks. */
export interface ConvergeService<T extends ConvergeTask = ConvergeTask> {
  state: string;
  replicas: number;
  running: number;
  healthy?: number;
  specVersion?: number;
  healthcheck?: { test: readonly string[] } | null;
  tasks: readonly T[];
}

/** What the waiter knows of the rollout: tasks meant to run must be at least at this version (set by an update before the daemon made any task from it). */
export interface ConvergeGoal {
  minTaskVersion?: number;
}

/** An update or rollback under way or stopped half-way: not converged whatever the counts say. */
export function isRollingServiceState(state: string): boolean {
  return state === 'UPDATING' || state === 'ROLLING_BACK' || state === 'PAUSED';
}

export function taskVersion(task: ConvergeTask): number {
  return task.specVersion ?? task.version;
}

/** The newest version any task of the service was made from; 0 without tasks. */
export function newestTaskVersion(service: ConvergeService): number {
  return Math.max(0, ...service.tasks.map(taskVersion));
}

/**
 * The version every task meant to run must reach: the spec version when
 * the daemon exposes it (`specVersion`; service.version moves on a scale
 * too), else the newest task version, but at least the goal's.
 */
export function requiredTaskVersion(service: ConvergeService, goal: ConvergeGoal = {}): number {
  if (service.specVersion !== undefined) return service.specVersion;
  return Math.max(newestTaskVersion(service), goal.minTaskVersion ?? 0);
}

/** At the required version: the very one when the daemon says which (a rollback goes back to an older one), else at least it. */
export function atRequiredVersion(task: ConvergeTask, service: ConvergeService, goal: ConvergeGoal = {}): boolean {
  const version = requiredTaskVersion(service, goal);
  return service.specVersion !== undefined ? taskVersion(task) === version : taskVersion(task) >= version;
}

export function wantedTasks<T extends ConvergeTask>(service: ConvergeService<T>): T[] {
  return service.tasks.filter((t) => t.desiredState === 'RUNNING');
}

/** The service has a health check: its own, or the image's (a task reports a health other than none). */
export function hasHealth(service: ConvergeService): boolean {
  if (service.healthcheck) return service.healthcheck.test[0] !== 'NONE';
  return service.tasks.some((t) => t.health === 'starting' || t.health === 'healthy' || t.health === 'unhealthy');
}

/**
 * Converged: the service runs its replica count, healthy where it has a
 * check, no update or rollback is under way, and every task meant to run
 * is RUNNING at the required version.
 */
export function isConverged(service: ConvergeService, goal: ConvergeGoal = {}): boolean {
  if (service.running !== service.replicas || isRollingServiceState(service.state)) return false;
  // With a health check, a replica that runs but is not healthy yet does not serve.
  if (service.healthy !== undefined && hasHealth(service) && service.healthy !== service.replicas) return false;
  return wantedTasks(service).every((t) => t.state === 'RUNNING' && atRequiredVersion(t, service, goal));
}
