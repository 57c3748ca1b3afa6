import { randomBytes } from 'node:crypto';
import type { Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import { getLocal, listNodes, listServices, type TaskRecord } from '../../database/queries';
import { listTasksForOrchestration, listUnendedTasks } from '../../database/task-summary';
import type { Logger } from '../logger';
import { orchestrate, type OrchestratorOutput } from './orchestrator';
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
    // One read transaction, so every service is seen at one point in the log. The orchestrator takes one
    // service's tasks at a time (its decisions are per service), so a pass holds one service's history, not
    // the cluster's; the scheduler reads the tasks that have not ended, all it counts.
    const { orchestrated, live, nodes } = this.o.db.transaction(() => {
      const nodes = listNodes(this.o.db);
      const out: OrchestratorOutput = { commands: [] };
      for (const service of listServices(this.o.db)) {
        const one = orchestrate({
          services: [service],
          tasks: listTasksForOrchestration(this.o.db, service.name),
          nodes,
          now,
          newTaskId: () => randomBytes(12).toString('hex'),
          updateParallelism: this.o.updateParallelism,
          autoRebalance: this.o.autoRebalance,
        });
        for (const c of one.commands) out.commands.push(c);
        if (one.wakeAt !== undefined) out.wakeAt = Math.min(out.wakeAt ?? Infinity, one.wakeAt);
      }
      return { orchestrated: out, live: listUnendedTasks(this.o.db), nodes };
    })();
    const afterOrchestration = withCommands(live, orchestrated.commands);
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
        desiredState: 'RUNNING', containerId: null, error: null, exitCode: null, startedAt: null, health: null, createdAt: c.at, updatedAt: c.at,
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
