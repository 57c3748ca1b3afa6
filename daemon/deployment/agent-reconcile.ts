import type { TaskRecord } from '../../database/queries';
import { isTerminalTaskState, type TaskHealth, type TaskState } from '../../database/task-state';

/** A Bicycle container on this node's engine, as listed. */
export interface ObservedContainer {
  id: string;
  /** The `io.bicycle.task` label; null for a container without one. */
  taskId: string | null;
  /** Docker's state: created, running, paused, restarting, removing, exited, dead. */
  state: string;
  exitCode: number | null;
  /** Its health as the engine reports it ('none' without a health check). */
  health: TaskHealth;
  /** Its address on the engine's default bridge, while it runs; null otherwise. */
  ip: string | null;
  /** Its name (without Docker's leading slash). */
  name: string;
}

/** The name the agent gives a task's container: readable, and unique per task, so a restarted agent adopts rather than duplicates. */
export function containerName(task: Pick<TaskRecord, 'serviceName' | 'slot' | 'id'>): string {
  return `${task.serviceName}.${task.slot}.${task.id}`;
}

export type AgentAction =
  /** Create (unless `containerId` names an existing, created container) and start the task's container. */
  | { kind: 'start'; task: TaskRecord; containerId: string | null }
  /** Stop and remove a container; then report `reportState` for the task, if given. */
  | { kind: 'remove'; containerId: string; taskId: string | null; reportState: TaskState | null; reason: string }
  /** Report an observation of a task's state (and its container's health) through propose. */
  | { kind: 'report'; taskId: string; state: TaskState; containerId: string | null; exitCode: number | null; error: string | null; health?: TaskHealth };

/**
 * The agent's decisions: compares the tasks assigned to this node with the
 * containers this node's engine runs, and says what to do so that they
 * match. `busy` holds tasks and containers an earlier action is still
 * working on; they are left alone. Pure.
 */
export function reconcileAgent(tasks: readonly TaskRecord[], containers: readonly ObservedContainer[], busy: ReadonlySet<string>): AgentAction[] {
  const actions: AgentAction[] = [];
  const byTask = new Map<string, ObservedContainer[]>();
  const busyTasks = new Set<string>();
  for (const c of containers) {
    if (busy.has(c.id)) {
      // Its removal is under way: the task is not container-less yet.
      if (c.taskId) busyTasks.add(c.taskId);
      continue;
    }
    const key = c.taskId ?? '';
    const list = byTask.get(key);
    if (list) list.push(c);
    else byTask.set(key, [c]);
  }
  const known = new Set<string>();

  for (const task of tasks) {
    known.add(task.id);
    if (busy.has(task.id) || busyTasks.has(task.id)) continue;
    // A container is the task's only if it is the one the task recorded or bears the name the agent gave it:
    // labels alone can be copied by anyone with access to the engine, and such a container is not adopted.
    const found: ObservedContainer[] = [];
    for (const c of byTask.get(task.id) ?? []) {
      if (c.id === task.containerId || c.name === containerName(task)) found.push(c);
      else actions.push({ kind: 'remove', containerId: c.id, taskId: null, reportState: null, reason: `it carries task ${task.id}'s labels but is not its container` });
    }
    // Two containers for one task cannot be told apart by their labels: keep the running one.
    const sorted = [...found].sort((a, b) => Number(b.state === 'running') - Number(a.state === 'running'));
    for (const extra of sorted.slice(1)) {
      actions.push({ kind: 'remove', containerId: extra.id, taskId: null, reportState: null, reason: 'duplicate container for one task' });
    }
    const container = sorted[0];
    const terminal = isTerminalTaskState(task.state);

    if (task.desiredState === 'SHUTDOWN' || terminal) {
      if (container) {
        actions.push({ kind: 'remove', containerId: container.id, taskId: task.id, reportState: terminal ? null : 'SHUTDOWN', reason: terminal ? `task is ${task.state}` : 'task is shut down' });
      } else if (!terminal) {
        actions.push(report(task.id, 'SHUTDOWN', null));
      }
      continue;
    }

    if (!container) {
      actions.push({ kind: 'start', task, containerId: null });
      continue;
    }
    switch (container.state) {
      case 'running':
      case 'paused':
      case 'restarting':
        if (container.health === 'unhealthy') {
          // Replaced like a dead one: the task fails, and the next pass removes its container.
          actions.push({ kind: 'report', taskId: task.id, state: 'FAILED', containerId: container.id, exitCode: null, error: 'container is unhealthy', health: 'unhealthy' });
        } else if (task.state !== 'RUNNING' || task.containerId !== container.id || (task.health ?? 'none') !== container.health) {
          actions.push({ ...report(task.id, 'RUNNING', container.id), health: container.health });
        }
        break;
      case 'created':
        actions.push({ kind: 'start', task, containerId: container.id });
        break;
      case 'exited':
      case 'dead': {
        const code = container.exitCode;
        const failed = code !== 0;
        actions.push({
          kind: 'report',
          taskId: task.id,
          state: failed ? 'FAILED' : 'COMPLETE',
          containerId: container.id,
          exitCode: code,
          error: failed ? `container exited with code ${code ?? 'unknown'}` : null,
        });
        break;
      }
      default:
        break; // removing: wait for the engine
    }
  }

  for (const [taskId, list] of byTask) {
    if (known.has(taskId)) continue;
    for (const c of list) {
      actions.push({ kind: 'remove', containerId: c.id, taskId: null, reportState: null, reason: 'no task assigned here wants it' });
    }
  }
  return actions;
}

function report(taskId: string, state: TaskState, containerId: string | null): Extract<AgentAction, { kind: 'report' }> {
  return { kind: 'report', taskId, state, containerId, exitCode: null, error: null };
}
