import type { Command } from '../../database/commands';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../database/queries';
import { isServing, isTerminalTaskState } from '../../database/task-state';
import { isRollingState, type ServiceState } from '../../database/service-state';
import { effectiveLifecycle, formatDuration, type Lifecycle } from '../../database/lifecycle';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './restart-backoff';
import { decideRestart, emptyEndings, noteEnding, type SlotEndings } from './restart-policy';
import { isComplete, judgeRollout, lastProgressAt, settledAt } from './rollout';
import { rolloutOrder, slotPlan, spreadKeepingSwaps, type SlotKey, type SlotPlan } from './slots';

export interface OrchestratorInput {
  services: readonly ServiceRecord[];
  tasks: readonly TaskRecord[];
  nodes: readonly NodeRecord[];
  now: number;
  newTaskId(): string;
  /** Replicas replaced at once during a rolling update, unless the service's update policy says otherwise. */
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
  const life = effectiveLifecycle(service.lifecycle, input.updateParallelism);
  const status = service.updateStatus;
  // An update or a rollback is under way (or paused half-way) while the service says so.
  const rolling = isRollingState(service.state) && status !== null;
  const policy = status?.kind === 'rollback' ? life.rollback : life.update;
  const commands = out.commands;
  const wake = (when: number) => {
    out.wakeAt = Math.min(out.wakeAt ?? Infinity, when);
  };
  const shutdown = (task: TaskRecord) => commands.push({ type: 'task.set-desired', taskId: task.id, desiredState: 'SHUTDOWN', at });
  const plan = slotPlan(service, nodes);
  const create = (key: SlotKey) =>
    commands.push({ type: 'task.create', id: input.newTaskId(), serviceName: service.name, ...plan.placeOf(key), specVersion: service.specVersion, at });
  // A scale-down with spread preferences stops replicas of the most crowded value (slots.ts).
  if (!isRollingState(service.state)) {
    const swapped = spreadKeepingSwaps(service, tasks, nodes, at);
    for (const c of swapped.commands) commands.push(c);
    tasks = swapped.tasks as TaskRecord[];
  }

  if (service.state === 'NEW') commands.push({ type: 'service.set-state', name: service.name, state: 'DEPLOYING', version: service.version, at });

  // Live tasks, by slot: wanted running and still able to run. Tasks of another version still stopping, by slot
  // (a stop-first rollout starts a slot's new replica once its old one is gone).
  const liveBySlot = new Map<SlotKey, TaskRecord[]>();
  const oldStopping = new Set<SlotKey>();
  const endings = new Map<SlotKey, SlotEndings>();
  const perNode = new Map<string, number>();
  const maxPerNode = service.mode === 'global' ? 1 : (service.placement.maxReplicasPerNode ?? 0);
  let stopping = 0;
  for (const task of tasks) {
    if (task.state === 'COMPLETE' || task.state === 'FAILED' || task.state === 'SHUTDOWN' || task.state === 'ORPHANED') {
      let e = endings.get(plan.keyOf(task));
      if (!e) endings.set(plan.keyOf(task), (e = emptyEndings()));
      noteEnding(e, task, service.specVersion, life.restart, backoff, at);
    }
    if (task.desiredState !== 'RUNNING') {
      if (task.nodeId === null && !isTerminalTaskState(task.state)) {
        commands.push({ type: 'task.remove', taskId: task.id, at });
      } else if (!isTerminalTaskState(task.state)) {
        if (isOnLostNode(task, nodes)) commands.push({ type: 'task.observe', taskId: task.id, state: 'ORPHANED', error: 'node is down', at });
        else {
          stopping++;
          if (task.specVersion !== service.specVersion) oldStopping.add(plan.keyOf(task));
        }
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
    if (isDrained(task, nodes) || !plan.wanted(task)) {
      shutdown(task);
      stopping++;
      continue;
    }
    // maxReplicasPerNode, as it is now (it may have been lowered): the extras on a node go, and are placed elsewhere.
    if (task.nodeId !== null && maxPerNode > 0 && service.mode !== 'global') {
      const n = (perNode.get(task.nodeId) ?? 0) + 1;
      perNode.set(task.nodeId, n);
      if (n > maxPerNode) {
        shutdown(task);
        stopping++;
        continue;
      }
    }
    // A replica on a node that never gets it running (a hung engine, a pull that never ends) or never healthy fails at the deadline.
    if (task.nodeId !== null && !isServing(task)) {
      const deadline = task.createdAt + policy.healthyDeadlineMs;
      if (at >= deadline) {
        const what = task.state === 'RUNNING' ? 'become healthy' : `start (still ${task.state})`;
        commands.push({ type: 'task.observe', taskId: task.id, state: 'FAILED', error: `did not ${what} within ${formatDuration(policy.healthyDeadlineMs)} (healthyDeadline)`, at });
        shutdown(task);
        continue;
      }
      wake(deadline);
    }
    const list = liveBySlot.get(plan.keyOf(task));
    if (list) list.push(task);
    else liveBySlot.set(plan.keyOf(task), [task]);
  }

  const firstSlotCommand = commands.length;
  let inProgress = 0;
  /** Slots of the rollout not yet settled, or settled less than its delay ago: they count against its parallelism. */
  let inFlight = 0;
  /** Slots running only a replica of another version: the rollout's next candidates. */
  const stale: TaskRecord[] = [];
  const stopFirst = policy.order === 'stop-first';
  const staleKey = new Map<string, SlotKey>();
  for (const slot of plan.keys) {
    const live = liveBySlot.get(slot) ?? [];
    const current = live.filter((t) => t.specVersion === service.specVersion).sort((a, b) => rank(b) - rank(a) || b.createdAt - a.createdAt);
    const old = live.filter((t) => t.specVersion !== service.specVersion).sort((a, b) => rank(b) - rank(a) || b.createdAt - a.createdAt);
    if (current.length === 0 && old.length === 0) {
      inProgress++;
      // Stop-first: the slot's old replica is still stopping; its new one starts once it is gone.
      if (stopFirst && oldStopping.has(slot)) {
        inFlight++;
        continue;
      }
      const decision = decideRestart(endings.get(slot) ?? emptyEndings(), life.restart, backoff, at);
      if (decision.kind === 'replace') {
        create(slot);
        if (rolling) inFlight++;
      } else if (decision.kind === 'wait') {
        wake(decision.until);
      } else {
        inProgress--; // left ended by the restart policy: nothing to wait for
      }
      continue;
    }
    if (current.length > 0) {
      const keep = current[0]!;
      for (const extra of current.slice(1)) {
        shutdown(extra);
        stopping++;
      }
      if (isServing(keep)) {
        // Start-first: the new replica serves, so the old one goes.
        for (const o of old) {
          shutdown(o);
          stopping++;
        }
        const ready = settledAt(keep) + policy.delayMs;
        if (rolling && policy.delayMs > 0 && keep.createdAt >= status!.startedAt && ready > at) {
          inFlight++;
          wake(ready);
        }
      } else {
        inProgress++;
        if (rolling || old.length > 0) inFlight++;
      }
      continue;
    }
    // Only replicas of another version, all still waiting for a node: they serve nothing, so they are replaced by
    // one of this version at once, outside the rollout's budget and paused or not, as a missing one would be (else
    // the old version is placed in the room the rollout frees, and an update that began with waiting replicas
    // starts the old image).
    if (rolling && old.every((t) => t.nodeId === null)) {
      for (const o of old) commands.push({ type: 'task.remove', taskId: o.id, at });
      create(slot);
      inProgress++;
      continue;
    }
    // Only replicas of another version: keep the best, and it is the rollout's to replace.
    for (const extra of old.slice(1)) {
      shutdown(extra);
      stopping++;
    }
    stale.push(old[0]!);
    staleKey.set(old[0]!.id, slot);
  }

  // An update or rollback under way is judged before it goes on: a failure pauses it or rolls it back.
  let paused = service.state === 'PAUSED';
  if (rolling && !paused && status!.completedAt === null) {
    const verdict = judgeRollout({ service, status: status!, policy, tasks, plan, now: at });
    if (verdict.kind === 'fail' && verdict.action === 'rollback') {
      // Nothing more of the failed version starts: this pass's new replicas are dropped before they are proposed.
      for (let i = commands.length - 1; i >= firstSlotCommand; i--) if (commands[i]!.type === 'task.create') commands.splice(i, 1);
      commands.push({ type: 'service.rollback', name: service.name, reason: verdict.reason, at });
      pruneHistory(plan, tasks, historyBounds(input, life), at, commands);
      return; // the next pass rolls the old version back out
    }
    if (verdict.kind === 'fail') {
      commands.push({ type: 'service.set-state', name: service.name, state: 'PAUSED', version: service.version, reason: verdict.reason, at });
      paused = true;
    } else {
      wake(lastProgressAt({ service, status: status!, tasks }) + policy.progressDeadlineMs);
    }
  }

  // The rollout: replace stale slots, at most `parallelism` in flight. Paused: what runs is left alone.
  if (!paused) {
    const budget = policy.parallelism === 0 ? stale.length : Math.max(0, policy.parallelism - inFlight);
    let started = 0;
    const live = [...liveBySlot.values()].flat();
    for (const task of rolloutOrder(service, stale, live, nodes)) {
      if (started >= budget) break;
      const key = staleKey.get(task.id)!;
      // A slot whose new replica failed is retried under the restart policy (its delay or back-off), the old one still serving.
      const ended = endings.get(key);
      if (ended?.last?.state === 'FAILED' && ended.last.specVersion === service.specVersion) {
        const decision = decideRestart(ended, life.restart, backoff, at);
        if (decision.kind === 'wait') wake(decision.until);
        if (decision.kind !== 'replace') continue;
      }
      started++;
      if (stopFirst) {
        shutdown(task);
        stopping++;
      } else {
        create(key);
      }
    }
  }

  const converged = inProgress === 0 && stale.length === 0 && stopping === 0;
  if (rolling) {
    // Done once every slot serves the new version, and `monitor` has passed since the last one became healthy.
    if (converged && !paused && isComplete({ service, tasks, plan })) {
      const doneAt = lastProgressAt({ service, status: status!, tasks }) + policy.monitorMs;
      if (at >= doneAt) {
        const state = status!.kind === 'rollback' ? 'ROLLED_BACK' : 'RUNNING';
        commands.push({ type: 'service.set-state', name: service.name, state, version: service.version, at });
      } else {
        wake(doneAt);
      }
    }
    pruneHistory(plan, tasks, historyBounds(input, life), at, commands);
    return;
  }

  if (converged && service.mode !== 'global' && (service.rebalance || input.autoRebalance)) {
    const moves = rebalanceMoves(liveBySlot, nodes, input.updateParallelism);
    for (const task of moves) {
      shutdown(task);
      create(task.slot);
    }
    if (moves.length === 0 && service.rebalance) commands.push({ type: 'service.rebalance', name: service.name, requested: false, at });
    if (moves.length > 0) {
      pruneHistory(plan, tasks, historyBounds(input, life), at, commands);
      return; // the service stays as it is until the moved replicas run
    }
  }
  const recentFailure = tasks.some((t) => t.state === 'FAILED' && at - t.updatedAt < backoff.windowMs);
  const next = nextServiceState(service.state === 'NEW' ? 'DEPLOYING' : service.state, converged, recentFailure);
  if (next !== service.state && !(service.state === 'NEW' && next === 'DEPLOYING')) {
    commands.push({ type: 'service.set-state', name: service.name, state: next, version: service.version, at });
  }

  pruneHistory(plan, tasks, historyBounds(input, life), at, commands);
}

interface HistoryBounds {
  perSlot: number;
  perService: number;
  /** Failures younger than this count for the back-off and are kept whatever perService says. */
  backoffWindowMs: number;
}

function historyBounds(input: OrchestratorInput, life: Lifecycle): HistoryBounds {
  return {
    // A slot's failures count for its restart maxAttempts: enough of them are kept to count.
    perSlot: Math.max(input.historyPerSlot ?? 5, life.restart.maxAttempts + 1),
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
function rebalanceMoves(liveBySlot: ReadonlyMap<SlotKey, TaskRecord[]>, nodes: Nodes, limit: number): TaskRecord[] {
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

/** Of a slot's replicas of one version, the one to keep: serving, then running. */
function rank(task: TaskRecord): number {
  return (isServing(task) ? 2 : 0) + (task.state === 'RUNNING' ? 1 : 0);
}

function nextServiceState(state: ServiceState, converged: boolean, recentFailure: boolean): ServiceState {
  if (converged) return state === 'ROLLED_BACK' ? 'ROLLED_BACK' : 'RUNNING';
  if (recentFailure || state === 'RUNNING' || state === 'DEGRADED') return 'DEGRADED';
  return state;
}

/**
 * Dead tasks are kept for `service ps`: the newest few per slot, none for
 * slots beyond the replica count, and at most `perService` in all (the
 * newest; a failure inside the back-off window is kept, so pruning never
 * shortens a crash loop's back-off).
 */
function pruneHistory(plan: SlotPlan, tasks: readonly TaskRecord[], bounds: HistoryBounds, at: number, commands: Command[]): void {
  // A task that ended but is still wanted RUNNING is shut down by this same pass: it counts toward its slot's
  // bound (so the bound holds after the pass, in a crash loop too) but is not removed before it is replaced.
  const dead = new Map<SlotKey, TaskRecord[]>();
  for (const task of tasks) {
    if (!isTerminalTaskState(task.state)) continue;
    const list = dead.get(plan.keyOf(task));
    if (list) list.push(task);
    else dead.set(plan.keyOf(task), [task]);
  }
  const places = new Set<SlotKey>(plan.keys);
  const kept: TaskRecord[] = [];
  for (const [key, list] of dead) {
    // None is kept for a place that is gone (a slot past the replica count, a node no longer eligible).
    const limit = places.has(key) ? bounds.perSlot : 0;
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
