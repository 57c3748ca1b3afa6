import { randomBytes } from 'node:crypto';
import type { Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import { getLocal, listNodes, listServices, type ServiceRecord, type TaskRecord } from '../../database/queries';
import type { Strategy } from '../../database/placement';
import { countPlacedTasks, lastPlacedNode, listPendingTasks, listTasksForOrchestration } from '../../database/task-summary';
import { isTerminalTaskState } from '../../database/task-state';
import type { Logger } from '../logger';
import { orchestrate, type OrchestratorOutput } from './orchestrator';
import { holdsPlace, isPending, schedule, type SchedulerInput } from './scheduler';

export interface ManagerOptions {
  db: Db;
  nodeId: string;
  propose(command: Command): Promise<unknown>;
  log: Logger;
  updateParallelism: number;
  autoRebalance: boolean;
  /** The cluster's default placement strategy (`deployment.strategy`). */
  strategy?: Strategy;
  now?: () => number;
}

/**
 * The leader's loops, orchestrator then scheduler, in one pass: the tasks
 * the orchestrator creates are placed in the same batch, so a new service
 * needs one commit to be fully assigned. Does nothing on a follower.
 */
export class Manager {
  private lastUnplaced = '';
  /** Round-robin's last node per service: read from the tasks when this node starts leading, then kept here. */
  private readonly cursors = new Map<string, string>();
  /** The reason last proposed for each task that waits for a node, so that only a change is proposed. */
  private pendingReasons = new Map<string, string>();

  constructor(private readonly o: ManagerOptions) {}

  private pendingChanges(unplaced: readonly { taskId: string; reason: string }[], at: number): Command | null {
    const { command, current } = pendingReasonCommand(this.pendingReasons, unplaced, at);
    this.pendingReasons = current;
    return command;
  }

  isLeader(): boolean {
    return getLocal(this.o.db, 'leader_id') === this.o.nodeId;
  }

  /** One pass; returns when it wants to run again (a back-off ending), if ever. */
  async pass(): Promise<number | undefined> {
    if (!this.isLeader()) return undefined;
    const now = (this.o.now ?? Date.now)();
    // One read transaction, so every service is seen at one point in the log. The orchestrator takes one
    // service's tasks at a time (its decisions are per service), so a pass holds one service's history, not
    // the cluster's; the scheduler's counts per (service, node) and the pending tasks come from SQLite.
    const { orchestrated, input, named, nodes, services } = this.o.db.transaction(() => {
      const nodes = listNodes(this.o.db);
      const out: OrchestratorOutput = { commands: [] };
      const named = new Map<string, TaskRecord>();
      const services = new Map<string, ServiceRecord>();
      for (const service of listServices(this.o.db)) {
        services.set(service.name, service);
        if ((service.placement.strategy ?? this.o.strategy) === 'round-robin' && !this.cursors.has(service.name)) {
          const last = lastPlacedNode(this.o.db, service.name);
          if (last !== undefined) this.cursors.set(service.name, last);
        }
        const tasks = listTasksForOrchestration(this.o.db, service.name);
        const one = orchestrate({
          services: [service],
          tasks,
          nodes,
          now,
          newTaskId: () => randomBytes(12).toString('hex'),
          updateParallelism: this.o.updateParallelism,
          autoRebalance: this.o.autoRebalance,
        });
        keepNamedTasks(tasks, one.commands, named);
        for (const c of one.commands) out.commands.push(c);
        if (one.wakeAt !== undefined) out.wakeAt = Math.min(out.wakeAt ?? Infinity, one.wakeAt);
      }
      const input: SchedulerInput = { placed: countPlacedTasks(this.o.db), pending: listPendingTasks(this.o.db) };
      return { orchestrated: out, input, named, nodes, services };
    })();
    const placed = schedule(withCommands(input, orchestrated.commands, (id) => named.get(id)), nodes, now, {
      services, strategy: this.o.strategy ?? 'spread', cursors: this.cursors,
    });
    const unplaced = placed.unplaced.map((u) => u.reason).join('\n');
    if (unplaced && unplaced !== this.lastUnplaced) this.o.log.warn('tasks wait for a node', { tasks: placed.unplaced.length, reason: placed.unplaced[0]!.reason });
    this.lastUnplaced = unplaced;
    const commands = foldPlacements(orchestrated.commands, placed.commands);
    const pending = this.pendingChanges(placed.unplaced, now);
    if (pending) commands.push(pending);
    // In proposals of at most MAX_COMMANDS_PER_PROPOSAL, proposed together (in order: their entries follow each other in the log).
    const proposals: Promise<unknown>[] = [];
    for (let i = 0; i < commands.length; i += MAX_COMMANDS_PER_PROPOSAL) {
      proposals.push(this.o.propose({ type: 'batch', commands: commands.slice(i, i + MAX_COMMANDS_PER_PROPOSAL) }));
    }
    await Promise.all(proposals);
    return orchestrated.wakeAt;
  }
}

/**
 * Commands per proposal of a pass: 1,000 task changes are some 200–300 KiB
 * of log entry, well within the 1 MiB a peer takes in one request or Raft
 * stream line, however many replicas one pass creates.
 */
export const MAX_COMMANDS_PER_PROPOSAL = 1000;

/**
 * The pass's batch: the orchestrator's commands, then the scheduler's. A
 * task created and placed in the same pass is created on its node (one
 * task.create ASSIGNED there, as a global service's is) instead of a create
 * and an assign: half the commands to commit and apply for a new replica.
 */
export function foldPlacements(orchestrated: readonly Command[], placed: readonly Command[]): Command[] {
  const creates = new Map<string, number>();
  const out = [...orchestrated];
  out.forEach((c, i) => {
    if (c.type === 'task.create' && c.nodeId === undefined) creates.set(c.id, i);
  });
  for (const c of placed) {
    const at = c.type === 'task.assign' ? creates.get(c.taskId) : undefined;
    if (c.type === 'task.assign' && at !== undefined) out[at] = { ...(out[at] as Extract<Command, { type: 'task.create' }>), nodeId: c.nodeId };
    else out.push(c);
  }
  return out;
}

/** Why tasks wait, as a command, when that changed since the last pass (a task's error shows it in `service ps` and State). */
function pendingReasonCommand(previous: ReadonlyMap<string, string>, unplaced: readonly { taskId: string; reason: string }[], at: number): { command: Command | null; current: Map<string, string> } {
  const current = new Map(unplaced.map((u) => [u.taskId, u.reason]));
  const reasons: Record<string, string | null> = {};
  let changed = false;
  for (const [taskId, reason] of current) {
    if (previous.get(taskId) !== reason) {
      reasons[taskId] = reason;
      changed = true;
    }
  }
  return { command: changed ? { type: 'task.set-pending', reasons, at } : null, current };
}

function namedTaskId(c: Command): string | undefined {
  return c.type === 'task.set-desired' || c.type === 'task.observe' || c.type === 'task.remove' ? c.taskId : undefined;
}

/**
 * Keeps, of `tasks`, the ones `commands` change that have not ended (an
 * ended task neither counts nor waits, and states only move forward, so no
 * command makes it do either): a pruning pass names thousands of dead tasks,
 * and none of them is held.
 */
function keepNamedTasks(tasks: readonly TaskRecord[], commands: readonly Command[], named: Map<string, TaskRecord>): void {
  const ids = new Set<string>();
  for (const c of commands) {
    const id = namedTaskId(c);
    if (id !== undefined) ids.add(id);
  }
  if (ids.size === 0) return;
  for (const t of tasks) if (ids.has(t.id) && !isTerminalTaskState(t.state)) named.set(t.id, t);
}

/** The fields of a task that decide whether it waits for a node or counts against one. */
type Placement = Pick<TaskRecord, 'serviceName' | 'slot' | 'nodeId' | 'state' | 'desiredState'>;

/**
 * The scheduler's input as it will be once `commands` apply: what the
 * scheduler must see. `read` answers a task the commands name as the pass
 * read it; undefined is taken as a task that has ended (it neither counts
 * nor waits before or after). The input is not modified.
 */
export function withCommands(input: SchedulerInput, commands: readonly Command[], read: (taskId: string) => Placement | undefined): SchedulerInput {
  const changed = new Map<string, { before: Placement | undefined; after: Placement | undefined }>();
  const rowOf = (id: string) => {
    let row = changed.get(id);
    if (!row) {
      const t = read(id);
      changed.set(id, (row = { before: t, after: t }));
    }
    return row;
  };
  for (const c of commands) {
    if (c.type === 'task.create') {
      // As the command applies: on the node it names (a global service's task), ASSIGNED there; else NEW, waiting.
      const nodeId = c.nodeId ?? null;
      rowOf(c.id).after = { serviceName: c.serviceName, slot: c.slot, nodeId, state: nodeId === null ? 'NEW' : 'ASSIGNED', desiredState: 'RUNNING' };
    } else if (c.type === 'task.set-desired') {
      const row = rowOf(c.taskId);
      if (row.after) row.after = { ...row.after, desiredState: c.desiredState };
    } else if (c.type === 'task.observe') {
      // An ended task stays ended (the state machine refuses the move), whatever a command says.
      const row = rowOf(c.taskId);
      if (row.after && !isTerminalTaskState(row.after.state)) row.after = { ...row.after, state: c.state };
    } else if (c.type === 'task.remove') {
      rowOf(c.taskId).after = undefined;
    }
  }
  if (changed.size === 0) return input;

  const key = (serviceName: string, nodeId: string) => `${serviceName}\0${nodeId}`;
  const placed = new Map(input.placed.map((p) => [key(p.serviceName, p.nodeId), { ...p }]));
  const count = (t: Placement, by: number) => {
    const k = key(t.serviceName, t.nodeId!);
    const p = placed.get(k);
    if (p) p.tasks += by;
    else placed.set(k, { serviceName: t.serviceName, nodeId: t.nodeId!, tasks: by });
  };
  const pending = new Map(input.pending.map((p) => [p.id, p]));
  for (const [id, { before, after }] of changed) {
    if (before && holdsPlace(before)) count(before, -1);
    if (after && holdsPlace(after)) count(after, +1);
    const waited = before !== undefined && isPending(before);
    const waits = after !== undefined && isPending(after);
    if (waited && !waits) pending.delete(id);
    else if (waits && !waited) pending.set(id, { id, serviceName: after.serviceName, slot: after.slot });
  }
  return { placed: [...placed.values()].filter((p) => p.tasks > 0), pending: [...pending.values()] };
}
