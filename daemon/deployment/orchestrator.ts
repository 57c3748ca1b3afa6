import type { Command } from '../../database/commands';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../database/queries';
import { isTerminalTaskState } from '../../database/task-state';
import type { ServiceState } from '../../database/service-state';
import { DEFAULT_BACKOFF, restartDelayMs, type BackoffPolicy } from './restart-backoff';

export interface OrchestratorInput {
  services: readonly ServiceRecord[];
  tasks: readonly TaskRecord[];
  nodes: readonly NodeRecord[];
  now: number;
  newTaskId(): string;
  /** Replicas replaced at once during a rolling update. */
  updateParallelism: number;
  /** Dead tasks kept per slot for `service ps` (default 5). */
  historyPerSlot?: number;
  /**
   * Dead tasks kept per service in all (default 1,000): past it the oldest go,
   * except failures recent enough to count for the back-off. Bounds a
   * service's history by a constant rather than by 5 times its replicas.
   */
  historyPerService?: number;
  backoff?: BackoffPolicy;
  /** Rebalance every service, not only those that asked for it. */
  autoRebalance?: boolean;
}

export interface OrchestratorOutput {
  commands: Command[];
  /** When the orchestrator wants another pass even if nothing changes (a back-off ending), ms since the epoch. */
  wakeAt?: number;
}

/**
 * The orchestrator's decisions, for every service: make its task set match
 * its spec. Creates tasks for missing slots, shuts down extra ones and those
 * on lost or drained nodes, replaces dead ones (with back-off), rolls spec
 * updates a few slots at a time, removes everything of a deleted service,
 * prunes old history, and moves the service's state. Pure: no I/O, no clock.
 */
export function orchestrate(input: OrchestratorInput): OrchestratorOutput {
  const byService = new Map<string, TaskRecord[]>();
  for (const task of input.tasks) {
    const list = byService.get(task.serviceName);
    if (list) list.push(task);
    else byService.set(task.serviceName, [task]);
  }
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const out: OrchestratorOutput = { commands: [] };
  for (const service of input.services) {
    const tasks = byService.get(service.name) ?? [];
    if (service.state === 'DELETE' || service.state === 'DELETING') {
      orchestrateDeletion(service, tasks, nodes, input, out);
    } else {
      orchestrateService(service, tasks, nodes, input, out);
    }
  }
  return out;
}

type Nodes = ReadonlyMap<string, NodeRecord>;

/** A task the node it is on will never report on again: its node is gone or DOWN. */
function isOnLostNode(task: TaskRecord, nodes: Nodes): boolean {
  if (task.nodeId === null) return false;
  const node = nodes.get(task.nodeId);
  return !node || node.status === 'DOWN';
}

function isDrained(task: TaskRecord, nodes: Nodes): boolean {
  return task.nodeId !== null && nodes.get(task.nodeId)?.availability === 'drain';
}

function orchestrateDeletion(service: ServiceRecord, tasks: TaskRecord[], nodes: Nodes, input: OrchestratorInput, out: OrchestratorOutput): void {
  const at = input.now;
  let remaining = 0;
  for (const task of tasks) {
    if (task.desiredState === 'RUNNING') out.commands.push({ type: 'task.set-desired', taskId: task.id, desiredState: 'SHUTDOWN', at });
    const gone = isTerminalTaskState(task.state) || task.nodeId === null || isOnLostNode(task, nodes);
    if (!gone) remaining++;
  }
  if (service.state === 'DELETE') {
    out.commands.push({ type: 'service.set-state', name: service.name, state: 'DELETING', version: service.version, at });
  }
  // Containers on a lost node are removed by that node's agent when it returns (they have no task any more).
  if (remaining === 0) out.commands.push({ type: 'service.remove', name: service.name, at });
}

function orchestrateService(service: ServiceRecord, tasks: TaskRecord[], nodes: Nodes, input: OrchestratorInput, out: OrchestratorOutput): void {
  const at = input.now;
  const backoff = input.backoff ?? DEFAULT_BACKOFF;
  const commands = out.commands;
  const shutdown = (task: TaskRecord) => commands.push({ type: 'task.set-desired', taskId: task.id, desiredState: 'SHUTDOWN', at });
  const create = (slot: number) =>
    commands.push({ type: 'task.create', id: input.newTaskId(), serviceName: service.name, slot, specVersion: service.specVersion, at });

  if (service.state === 'NEW') commands.push({ type: 'service.set-state', name: service.name, state: 'DEPLOYING', version: service.version, at });

  // Live tasks, by slot: wanted running and still able to run.
  const liveBySlot = new Map<number, TaskRecord[]>();
  let stopping = 0;
  for (const task of tasks) {
    if (task.desiredState !== 'RUNNING') {
      if (task.nodeId === null && !isTerminalTaskState(task.state)) {
        commands.push({ type: 'task.remove', taskId: task.id, at });
      } else if (!isTerminalTaskState(task.state)) {
        if (isOnLostNode(task, nodes)) commands.push({ type: 'task.observe', taskId: task.id, state: 'ORPHANED', error: 'node is down', at });
        else stopping++;
      }
      continue;
    }
    if (isTerminalTaskState(task.state)) {
      shutdown(task);
      continue;
    }
    if (isOnLostNode(task, nodes)) {
      shutdown(task);
      commands.push({ type: 'task.observe', taskId: task.id, state: 'ORPHANED', error: 'node is down', at });
      continue;
    }
    if (isDrained(task, nodes) || task.slot > service.replicas) {
      shutdown(task);
      stopping++;
      continue;
    }
    const list = liveBySlot.get(task.slot);
    if (list) list.push(task);
    else liveBySlot.set(task.slot, [task]);
  }

  // Recent failures by slot, counted once per pass (not per slot: a service of 10,000 failing slots is 10,000 x its tasks).
  const failuresBySlot = new Map<number, { count: number; last: number }>();
  for (const t of tasks) {
    if (t.state !== 'FAILED' || at - t.updatedAt >= backoff.windowMs) continue;
    const f = failuresBySlot.get(t.slot);
    if (f) {
      f.count++;
      f.last = Math.max(f.last, t.updatedAt);
    } else {
      failuresBySlot.set(t.slot, { count: 1, last: t.updatedAt });
    }
  }

  let inProgress = 0;
  const stale: TaskRecord[] = [];
  for (let slot = 1; slot <= service.replicas; slot++) {
    const live = liveBySlot.get(slot) ?? [];
    if (live.length === 0) {
      const failures = failuresBySlot.get(slot);
      const readyAt = failures ? failures.last + restartDelayMs(failures.count, backoff) : 0;
      if (failures && readyAt > at) {
        out.wakeAt = Math.min(out.wakeAt ?? Infinity, readyAt);
      } else {
        create(slot);
      }
      inProgress++;
      continue;
    }
    // Keep one task per slot: the current version, running, newest first.
    const ranked = [...live].sort((a, b) => rank(b, service) - rank(a, service) || b.createdAt - a.createdAt);
    for (const extra of ranked.slice(1)) {
      shutdown(extra);
      stopping++;
    }
    const keep = ranked[0]!;
    if (keep.specVersion < service.specVersion) stale.push(keep);
    else if (keep.state !== 'RUNNING') inProgress++;
  }

  // Rolling update: replace stale tasks, a few slots at a time.
  const budget = Math.max(0, input.updateParallelism - inProgress);
  for (const task of stale.slice(0, budget)) {
    shutdown(task);
    create(task.slot);
    stopping++;
  }

  const converged = inProgress === 0 && stale.length === 0 && stopping === 0;
  if (converged && (service.rebalance || input.autoRebalance)) {
    const moves = rebalanceMoves(liveBySlot, nodes, input.updateParallelism);
    for (const task of moves) {
      shutdown(task);
      create(task.slot);
    }
    if (moves.length === 0 && service.rebalance) commands.push({ type: 'service.rebalance', name: service.name, requested: false, at });
    if (moves.length > 0) {
      pruneHistory(service, tasks, historyBounds(input), at, commands);
      return; // the service stays as it is until the moved replicas run
    }
  }
  const recentFailure = tasks.some((t) => t.state === 'FAILED' && at - t.updatedAt < backoff.windowMs);
  const next = nextServiceState(service.state === 'NEW' ? 'DEPLOYING' : service.state, converged, recentFailure);
  if (next !== service.state && !(service.state === 'NEW' && next === 'DEPLOYING')) {
    commands.push({ type: 'service.set-state', name: service.name, state: next, version: service.version, at });
  }

  pruneHistory(service, tasks, historyBounds(input), at, commands);
}

interface HistoryBounds {
  perSlot: number;
  perService: number;
  /** Failures younger than this count for the back-off and are kept whatever perService says. */
  backoffWindowMs: number;
}

function historyBounds(input: OrchestratorInput): HistoryBounds {
  return {
    perSlot: input.historyPerSlot ?? 5,
    perService: input.historyPerService ?? 1000,
    backoffWindowMs: (input.backoff ?? DEFAULT_BACKOFF).windowMs,
  };
}

/**
 * Replicas to move so the service spreads evenly over the schedulable nodes:
 * from the node with the most to the one with the fewest while they differ by
 * more than one, at most `limit` at a time. The replacements go where the
 * scheduler puts them, which is the node with the fewest.
 */
function rebalanceMoves(liveBySlot: ReadonlyMap<number, TaskRecord[]>, nodes: Nodes, limit: number): TaskRecord[] {
  const schedulable = [...nodes.values()].filter((n) => n.status === 'READY' && n.availability === 'active');
  if (schedulable.length < 2) return [];
  const byNode = new Map<string, TaskRecord[]>(schedulable.map((n) => [n.id, []]));
  for (const list of liveBySlot.values()) for (const t of list) if (t.nodeId) byNode.get(t.nodeId)?.push(t);
  const counts = [...byNode.entries()].map(([id, list]) => ({ id, list: [...list].sort((a, b) => b.slot - a.slot), count: list.length }));
  const moves: TaskRecord[] = [];
  while (moves.length < limit) {
    counts.sort((a, b) => b.count - a.count || (a.id < b.id ? -1 : 1));
    const most = counts[0]!;
    const fewest = counts[counts.length - 1]!;
    if (most.count - fewest.count <= 1) break;
    moves.push(most.list.shift()!);
    most.count--;
    fewest.count++;
  }
  return moves;
}

function rank(task: TaskRecord, service: ServiceRecord): number {
  return (task.specVersion === service.specVersion ? 2 : 0) + (task.state === 'RUNNING' ? 1 : 0);
}

function nextServiceState(state: ServiceState, converged: boolean, recentFailure: boolean): ServiceState {
  if (converged) return 'RUNNING';
  if (recentFailure || state === 'RUNNING' || state === 'DEGRADED') return 'DEGRADED';
  return state;
}

/**
 * Dead tasks are kept for `service ps`: the newest few per slot, none for
 * slots beyond the replica count, and at most `perService` in all (the
 * newest; a failure inside the back-off window is kept, so pruning never
 * shortens a crash loop's back-off).
 */
function pruneHistory(service: ServiceRecord, tasks: TaskRecord[], bounds: HistoryBounds, at: number, commands: Command[]): void {
  // A task that ended but is still wanted RUNNING is shut down by this same pass: it counts toward its slot's
  // bound (so the bound holds after the pass, in a crash loop too) but is not removed before it is replaced.
  const dead = new Map<number, TaskRecord[]>();
  for (const task of tasks) {
    if (!isTerminalTaskState(task.state)) continue;
    const list = dead.get(task.slot);
    if (list) list.push(task);
    else dead.set(task.slot, [task]);
  }
  const kept: TaskRecord[] = [];
  for (const [slot, list] of dead) {
    const limit = slot > service.replicas ? 0 : bounds.perSlot;
    list.sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : 1));
    let count = list.length;
    for (let i = list.length - 1; i >= 0 && count > limit; i--) {
      if (list[i]!.desiredState !== 'SHUTDOWN') continue;
      commands.push({ type: 'task.remove', taskId: list[i]!.id, at });
      count--;
      list.splice(i, 1);
    }
    for (const task of list) if (task.desiredState === 'SHUTDOWN') kept.push(task);
  }
  if (kept.length <= bounds.perService) return;
  kept.sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : 1));
  for (const task of kept.slice(bounds.perService)) {
    if (task.state === 'FAILED' && at - task.updatedAt < bounds.backoffWindowMs) continue;
    commands.push({ type: 'task.remove', taskId: task.id, at });
  }
}
