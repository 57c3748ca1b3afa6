import { randomBytes } from 'node:crypto';
import type { Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import { getLocal, listNodes, listServices, type TaskRecord } from '../../database/queries';
import { listTasksForOrchestration } from '../../database/task-summary';
import type { Logger } from '../logger';
import { isTerminalTaskState } from '../../database/task-state';
import { orchestrate } from './orchestrator';
import { schedule } from './scheduler';

export interface ManagerOptions {
  db: Db;
  nodeId: string;
  propose(command: Command): Promise<unknown>;
  log: Logger;
  updateParallelism: number;
  autoRebalance: boolean;
  now?: () => number;
}

/**
 * The leader's loops, orchestrator then scheduler, in one pass: the tasks
 * the orchestrator creates are placed in the same batch, so a new service
 * needs one commit to be fully assigned. Does nothing on a follower.
 */
export class Manager {
  private lastUnplaced = '';

  constructor(private readonly o: ManagerOptions) {}

  isLeader(): boolean {
    return getLocal(this.o.db, 'leader_id') === this.o.nodeId;
  }

  /** One pass; returns when it wants to run again (a back-off ending), if ever. */
  async pass(): Promise<number | undefined> {
    if (!this.isLeader()) return undefined;
    const now = (this.o.now ?? Date.now)();
    const services = listServices(this.o.db);
    const tasks = listTasksForOrchestration(this.o.db);
    const nodes = listNodes(this.o.db);
    const orchestrated = orchestrate({
      services,
      tasks,
      nodes,
      now,
      newTaskId: () => randomBytes(12).toString('hex'),
      updateParallelism: this.o.updateParallelism,
      autoRebalance: this.o.autoRebalance,
    });
    // The scheduler counts only tasks that have not ended; dead history (most rows in a crash loop) is left out of its copy.
    const afterOrchestration = withCommands(tasks.filter((t) => !isTerminalTaskState(t.state)), orchestrated.commands);
    const placed = schedule(afterOrchestration, nodes, now);
    const unplaced = placed.unplaced.map((u) => u.reason).join('\n');
    if (unplaced && unplaced !== this.lastUnplaced) this.o.log.warn('tasks wait for a node', { tasks: placed.unplaced.length, reason: placed.unplaced[0]!.reason });
    this.lastUnplaced = unplaced;
    const commands = [...orchestrated.commands, ...placed.commands];
    if (commands.length > 0) await this.o.propose({ type: 'batch', commands });
    return orchestrated.wakeAt;
  }
}

/** The task rows as they will be once `commands` apply: what the scheduler must see. */
export function withCommands(tasks: readonly TaskRecord[], commands: readonly Command[]): TaskRecord[] {
  // Rows are copied only where a command changes them: the input is not modified.
  const byId = new Map<string, TaskRecord>(tasks.map((t) => [t.id, t]));
  for (const c of commands) {
    if (c.type === 'task.create') {
      byId.set(c.id, {
        id: c.id, serviceName: c.serviceName, slot: c.slot, specVersion: c.specVersion, nodeId: null, state: 'NEW',
        desiredState: 'RUNNING', containerId: null, error: null, exitCode: null, startedAt: null, createdAt: c.at, updatedAt: c.at,
      });
    } else if (c.type === 'task.set-desired') {
      const t = byId.get(c.taskId);
      if (t) byId.set(c.taskId, { ...t, desiredState: c.desiredState });
    } else if (c.type === 'task.remove') {
      byId.delete(c.taskId);
    }
  }
  return [...byId.values()];
}
