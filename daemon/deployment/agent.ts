import type { Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import { getLocal, getMeta, listServices, listServiceVersions, listTasks, type ServiceRecord, type TaskRecord } from '../../database/queries';
import type { PinnedSecretRef } from '../../database/secrets';
import type { SecretFiles } from './secret-files';
import type { TaskHealth, TaskState } from '../../database/task-state';
import { isServiceDeleting, type ServiceState } from '../../database/service-state';
import { prepared } from '../../database/statements';
import { LABELS } from '../docker-client';
import type { Logger } from '../logger';
import { errorMessage } from '../logger';
import { containerName, reconcileAgent, type AgentAction } from './agent-reconcile';
import { ImagePullError, NameConflictError, type ContainerRuntime, type ContainerSpec } from './container-runtime';
import { Semaphore } from './semaphore';
import { ReportBatcher } from './report-batcher';
import { decideCutOff, splitCutOff, type CutOffDecision } from './cut-off';

/** What the agent needs of the traffic manager. */
export interface AgentTraffic {
  /** Why this node cannot serve the service's published ports (one is taken by another program), or null. */
  portProblem(service: ServiceRecord): Promise<string | null>;
  /** The resolver settings for new containers, when this node answers service names. */
  dnsConfig(): ContainerSpec['dns'];
  /** How long a replica with published ports is out of every node's backend set before its container is stopped, in ms. */
  deregisterDelayMs: number;
}

export interface AgentOptions {
  db: Db;
  runtime: ContainerRuntime;
  nodeId: string;
  propose(command: Command): Promise<unknown>;
  log: Logger;
  concurrency: number;
  /** How long a container has to stop before it is killed, unless its service says (`stopGracePeriod`). */
  stopGracePeriodMs: number;
  /** The traffic manager, when this node serves published ports. */
  traffic?: AgentTraffic;
  /** Called when an action finished, so the loop makes another pass. */
  wake(): void;
  /** The host-loss grace (`voting.hostGraceMs`): after this long without a leader, replicas of `stop` services stop here (cut-off.ts). */
  hostGraceMs: number;
  /** The clock (ms since the epoch) of the cut-off rule and of the agent's reports; Date.now by default. */
  now?: () => number;
  /** Where the secret files of this node's containers are kept; absent: a task that mounts secrets fails, saying so. */
  secretFiles?: SecretFiles;
  /** Hears container starts, start failures and scheduling delays (daemon/metrics/thread-metrics.ts). */
  metrics?: AgentMetrics;
}

/** What the agent reports to the deployment thread's metrics. */
export interface AgentMetrics {
  containerStarted(): void;
  containerStartFailed(reason: 'image_pull' | 'create' | 'start' | 'port'): void;
  /** A task's container runs, `seconds` after the task was created. */
  taskRunning(seconds: number): void;
}

/**
 * The agent's shell: each pass lists this node's Bicycle containers, asks
 * reconcileAgent what to do, reports observations in one batch, and runs
 * container starts and removals in the background (at most `concurrency` at
 * once), reporting each outcome as it lands.
 */
export class Agent {
  private readonly busy = new Set<string>();
  private readonly semaphore: Semaphore;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly reports: ReportBatcher;
  private readonly now: () => number;
  /** This agent's start: the cut-off rule gives the node the whole grace from then. */
  private readonly since: number;
  /** Whether the last pass found this node cut off from every leader. */
  private cutOff = false;

  constructor(private readonly o: AgentOptions) {
    this.semaphore = new Semaphore(o.concurrency);
    this.reports = new ReportBatcher(o.propose);
    this.now = o.now ?? Date.now;
    this.since = this.now();
  }

  /** The cut-off decision for these tasks, now (cut-off.ts). */
  private decideCutOff(tasks: readonly TaskRecord[], services: ReadonlyMap<string, ServiceRecord>): CutOffDecision {
    const recorded = Number(getLocal(this.o.db, 'leader_contact_at'));
    return decideCutOff({
      leaderContactAt: Number.isFinite(recorded) && recorded > 0 ? recorded : null,
      since: this.since,
      now: this.now(),
      graceMs: this.o.hostGraceMs,
      tasks,
      onDisconnect: (name) => services.get(name)?.onDisconnect,
    });
  }

  /** True when this node became cut off from every leader, or stopped being so, since the last pass: a pass is due. */
  cutOffChanged(): boolean {
    return this.decideCutOff([], new Map()).cutOff !== this.cutOff;
  }

  /** The labels that mark a container as this cluster's and this node's. */
  labels(): Record<string, string> | undefined {
    const cluster = getMeta(this.o.db, 'cluster_id');
    return cluster ? { [LABELS.cluster]: cluster, [LABELS.node]: this.o.nodeId } : undefined;
  }

  async pass(): Promise<void> {
    const labels = this.labels();
    if (!labels) return;
    const assigned = listTasks(this.o.db, { nodeId: this.o.nodeId });
    // A start that ends while the engine lists is busy now or was before: its files are not swept.
    const busyBefore = new Set(this.busy);
    const listed = await this.o.runtime.list(labels);
    this.sweepSecretFiles(listed, busyBefore);
    const services = new Map<string, ServiceRecord>();
    for (const s of listServices(this.o.db)) services.set(s.name, s);
    // Cut off from every leader for longer than the grace: the replicas of `stop` services stop here and none start;
    // their tasks are left out of the reconcile, and nothing is reported of them (no leader would hear it).
    const cutOff = this.decideCutOff(assigned, services);
    this.noteCutOff(cutOff);
    const { remove: held, rest: containers } = splitCutOff(listed, cutOff.stop, this.busy);
    const tasks = cutOff.stop.size > 0 ? assigned.filter((t) => !cutOff.stop.has(t.id)) : assigned;
    const actions: AgentAction[] = held.map((c) => ({
      kind: 'remove', containerId: c.id, taskId: null, reportState: null,
      reason: `no leader heard from for ${Math.round(cutOff.silentMs / 100) / 10} s (onDisconnect: stop)`,
    }));
    actions.push(...reconcileAgent(tasks, containers, this.busy));
    const reports: Command[] = [];
    const serviceOf = new Map(tasks.map((t) => [t.id, t.serviceName]));
    const assignedById = new Map(tasks.map((t) => [t.id, t]));
    for (const action of actions) {
      if (action.kind === 'report' && action.state === 'RUNNING' && action.containerId && !isRecordedRunning(assignedById.get(action.taskId), action.containerId)) {
        // An adopted container: its start time comes from the engine.
        const containerId = action.containerId;
        this.background(action.taskId, () => this.reportRunning(action.taskId, containerId));
      } else if (action.kind === 'report' && action.health === 'unhealthy' && action.containerId) {
        // Why it is unhealthy is in the engine's health log.
        const containerId = action.containerId;
        this.background(action.taskId, () => this.reportUnhealthy(action.taskId, containerId));
      } else if (action.kind === 'report') {
        reports.push(this.observe(action.taskId, action.state, {
          containerId: action.containerId, exitCode: action.exitCode, error: action.error, ...(action.health ? { health: action.health } : {}),
        }));
      } else {
        this.runInBackground(action, labels, services, serviceOf);
      }
    }
    if (reports.length > 0) await this.o.propose({ type: 'batch', commands: reports });
  }

  /** Secret files of tasks that have no container here and no start under way go. */
  private sweepSecretFiles(listed: readonly { taskId: string | null }[], busyBefore: ReadonlySet<string>): void {
    if (!this.o.secretFiles) return;
    const keep = new Set<string>([...busyBefore, ...this.busy]);
    for (const c of listed) if (c.taskId) keep.add(c.taskId);
    try {
      this.o.secretFiles.sweep(keep);
    } catch (error) {
      this.o.log.warn('cannot sweep secret files; will retry', { error: errorMessage(error) });
    }
  }

  /** Writes the task's secret files and returns its mounts; the secrets are those of the task's spec version. */
  private async secretMounts(task: TaskRecord, service: ServiceRecord): Promise<ContainerSpec['mounts']> {
    const refs = secretsOfTask(this.o.db, task, service);
    if (refs.length === 0) return undefined;
    if (!this.o.secretFiles) throw new Error('this node keeps no secret files: it cannot mount secrets');
    return this.o.secretFiles.write(task.id, refs);
  }

  private noteCutOff(decision: CutOffDecision): void {
    if (decision.cutOff === this.cutOff) return;
    this.cutOff = decision.cutOff;
    if (decision.cutOff) {
      this.o.log.warn('no leader heard from for longer than the host-loss grace: stopping this node\'s replicas of onDisconnect: stop services', {
        silentMs: decision.silentMs, graceMs: this.o.hostGraceMs, tasks: decision.stop.size,
      });
    } else {
      this.o.log.info('a leader is heard from again: this node converges to its assigned tasks');
    }
  }

  private observe(
    taskId: string,
    state: TaskState,
    extra: { containerId?: string | null; exitCode?: number | null; error?: string | null; startedAt?: number | null; health?: TaskHealth },
  ): Command {
    return { type: 'task.observe', taskId, state, ...extra, at: this.now() };
  }

  private runInBackground(
    action: Exclude<AgentAction, { kind: 'report' }>,
    labels: Record<string, string>,
    services: Map<string, ServiceRecord>,
    serviceOf: Map<string, string>,
  ): void {
    if (action.kind === 'start') {
      const service = services.get(action.task.serviceName);
      // A service being deleted gets no new container, even before the orchestrator has shut its tasks down.
      if (!service || isServiceDeleting(service.state)) return;
      this.background(action.task.id, () => this.start(action.task, action.containerId, service, labels));
    } else {
      // A replica with published ports leaves every node's backend set first (the same commit reaches them all);
      // its container stops only after the deregistration delay, so no new connection meets a stopping replica.
      const service = action.taskId ? services.get(serviceOf.get(action.taskId) ?? '') : undefined;
      // A failed replica (unhealthy, say) waits too: a node that has not applied its failure yet may still send it a connection.
      const leaving = action.reportState === 'SHUTDOWN' || (action.taskId !== null && action.reportState === null);
      const delayMs = leaving && service && service.ports.length > 0 ? (this.o.traffic?.deregisterDelayMs ?? 0) : 0;
      const graceMs = service?.lifecycle.stopGracePeriodMs ?? this.o.stopGracePeriodMs;
      this.background(action.containerId, () => this.remove(action, graceMs), delayMs);
    }
  }

  private background(key: string, work: () => Promise<void>, delayMs = 0): void {
    if (this.busy.has(key)) return;
    this.busy.add(key);
    const waited = delayMs > 0 ? new Promise<void>((resolve) => setTimeout(resolve, delayMs)) : Promise.resolve();
    const done = waited
      .then(() => this.semaphore.run(work))
      .catch((error: unknown) => {
        this.o.log.warn('agent action failed; will retry', { key, error: errorMessage(error) });
      })
      .finally(() => {
        this.busy.delete(key);
        this.inFlight.delete(done);
        this.o.wake();
      });
    this.inFlight.add(done);
  }

  private async start(task: TaskRecord, existing: string | null, service: ServiceRecord, labels: Record<string, string>): Promise<void> {
    const log = this.o.log.child({ service: service.name, task: task.id.slice(0, 12) });
    // Queued starts wait for the semaphore, maybe long after the pass that decided them: one whose task or
    // service has since been shut down or deleted is dropped here, not run.
    if (!this.stillWanted(task.id)) return;
    let containerId = existing;
    if (!containerId) {
      if (task.specVersion !== service.specVersion) return; // superseded; the orchestrator replaces it
      const portProblem = service.ports.length > 0 ? await this.o.traffic?.portProblem(service) : null;
      if (portProblem) {
        this.o.metrics?.containerStartFailed('port');
        log.warn('task failed', { error: portProblem });
        await this.reports.report(this.observe(task.id, 'FAILED', { error: portProblem }));
        return;
      }
      let mounts: ContainerSpec['mounts'];
      try {
        mounts = await this.secretMounts(task, service);
      } catch (error) {
        const reason = `cannot mount the service's secrets: ${errorMessage(error)}`;
        log.warn('task failed', { error: reason });
        await this.reports.report(this.observe(task.id, 'FAILED', { error: reason }));
        return;
      }
      try {
        containerId = await this.o.runtime.create({ ...containerSpec(service, task, labels, this.o.traffic?.dnsConfig()), ...(mounts ? { mounts } : {}) });
      } catch (error) {
        if (error instanceof NameConflictError) return; // created by an earlier life of this agent: adopted next pass
        const reason = error instanceof ImagePullError ? error.message : `cannot create the container: ${errorMessage(error)}`;
        this.o.metrics?.containerStartFailed(error instanceof ImagePullError ? 'image_pull' : 'create');
        log.warn('task failed', { error: reason });
        await this.reports.report(this.observe(task.id, 'FAILED', { error: reason }));
        return;
      }
      // Deleted while the engine created it: left created, not started; the next pass removes it.
      if (!this.stillWanted(task.id)) return;
    }
    try {
      // An existing container's files may be gone (a restart of the host emptied the tmpfs): written again before it starts.
      if (existing) await this.secretMounts(task, service);
      const startedAt = await this.o.runtime.start(containerId);
      this.o.metrics?.containerStarted();
      this.o.metrics?.taskRunning((this.now() - task.createdAt) / 1000);
      log.info('container started', { container: containerId.slice(0, 12) });
      // A container with a health check starts `starting`: it serves once the engine says healthy. The image's own check is known only to the engine.
      const health: TaskHealth = service.healthcheck
        ? (service.healthcheck.test[0] === 'NONE' ? 'none' : 'starting')
        : (await this.o.runtime.inspect(containerId)).health;
      await this.reports.report(this.observe(task.id, 'RUNNING', { containerId, startedAt, health }));
    } catch (error) {
      const reason = `cannot start the container: ${errorMessage(error)}`;
      this.o.metrics?.containerStartFailed('start');
      log.warn('task failed', { container: containerId.slice(0, 12), error: reason });
      await this.reports.report(this.observe(task.id, 'FAILED', { containerId, error: reason }));
    }
  }

  /** The task still exists, is still wanted RUNNING, and its service is not being deleted: read now, not when the start was queued. */
  private stillWanted(taskId: string): boolean {
    const row = prepared(this.o.db, 'SELECT t.desired_state AS desired, s.state AS service FROM tasks t JOIN services s ON s.name = t.service_name WHERE t.id = ?').get(taskId) as
      | { desired: string; service: ServiceState }
      | undefined;
    return row !== undefined && row.desired === 'RUNNING' && !isServiceDeleting(row.service);
  }

  private async remove(action: Extract<AgentAction, { kind: 'remove' }>, graceMs: number): Promise<void> {
    await this.o.runtime.remove(action.containerId, graceMs);
    if (action.taskId) this.o.secretFiles?.remove(action.taskId);
    this.o.log.info('container removed', { container: action.containerId.slice(0, 12), task: action.taskId?.slice(0, 12), reason: action.reason });
    if (action.taskId && action.reportState) await this.reports.report(this.observe(action.taskId, action.reportState, {}));
  }

  private async reportRunning(taskId: string, containerId: string): Promise<void> {
    const { startedAt, health } = await this.o.runtime.inspect(containerId);
    await this.reports.report(this.observe(taskId, 'RUNNING', { containerId, startedAt, health }));
  }

  private async reportUnhealthy(taskId: string, containerId: string): Promise<void> {
    const { healthOutput } = await this.o.runtime.inspect(containerId);
    const error = `container is unhealthy${healthOutput ? `: ${healthOutput}` : ''}`;
    this.o.log.warn('task failed', { task: taskId.slice(0, 12), container: containerId.slice(0, 12), error });
    await this.reports.report(this.observe(taskId, 'FAILED', { containerId, error, health: 'unhealthy' }));
  }

  /** Waits for the actions under way. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}

/** The secrets a task's containers mount: its service's, or those of the older spec version it runs ([] when that version is no longer recorded). */
function secretsOfTask(db: Db, task: TaskRecord, service: ServiceRecord): PinnedSecretRef[] {
  if (task.specVersion === service.specVersion) return service.secrets;
  return listServiceVersions(db, service.name).find((v) => v.specVersion === task.specVersion)?.secrets ?? [];
}

/** The task is recorded RUNNING in this container: a report about it only changes its health, with no need to ask the engine when it started. */
function isRecordedRunning(task: TaskRecord | undefined, containerId: string): boolean {
  return task !== undefined && task.state === 'RUNNING' && task.containerId === containerId;
}

/** The container for a task: readable name `service.slot.taskid`, Bicycle's labels over the user's. */
export function containerSpec(service: ServiceRecord, task: TaskRecord, labels: Record<string, string>, dns?: ContainerSpec['dns']): ContainerSpec {
  const limits = service.resources.limits;
  return {
    ...(dns ? { dns } : {}),
    ...(limits && Object.keys(limits).length > 0 ? { limits } : {}),
    name: containerName(task),
    image: service.image,
    command: service.command,
    healthcheck: service.healthcheck,
    env: service.env,
    labels: {
      ...service.labels,
      ...labels,
      [LABELS.service]: service.name,
      [LABELS.task]: task.id,
      [LABELS.slot]: String(task.slot),
    },
  };
}
