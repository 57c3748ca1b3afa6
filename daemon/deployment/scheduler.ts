import type { Command } from '../../database/commands';
import type { NodeRecord, TaskRecord } from '../../database/queries';
import { isSchedulable } from '../../database/node-state';
import { isTerminalTaskState } from '../../database/task-state';

export interface Unplaced {
  taskId: string;
  reason: string;
}

export interface ScheduleResult {
  commands: Command[];
  unplaced: Unplaced[];
}

/**
 * Places every unassigned task (NEW, desired RUNNING, no node) on a
 * schedulable node (READY and active), spreading each service evenly: the
 * node with the fewest tasks of this service first, then the fewest tasks in
 * all, then the name. Pure: the same rows give the same placements.
 */
export function schedule(tasks: readonly TaskRecord[], nodes: readonly NodeRecord[], at: number): ScheduleResult {
  const candidates = nodes.filter(isSchedulable).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const pending = tasks
    .filter((t) => t.nodeId === null && t.state === 'NEW' && t.desiredState === 'RUNNING')
    .sort((a, b) => (a.serviceName < b.serviceName ? -1 : a.serviceName > b.serviceName ? 1 : a.slot - b.slot));
  if (pending.length === 0) return { commands: [], unplaced: [] };
  if (candidates.length === 0) {
    const reason = explainNoNode(nodes);
    return { commands: [], unplaced: pending.map((t) => ({ taskId: t.id, reason })) };
  }

  const total = new Map<string, number>(candidates.map((n) => [n.id, 0]));
  const perService = new Map<string, Map<string, number>>();
  const bump = (serviceName: string, nodeId: string) => {
    total.set(nodeId, (total.get(nodeId) ?? 0) + 1);
    let counts = perService.get(serviceName);
    if (!counts) perService.set(serviceName, (counts = new Map()));
    counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
  };
  for (const t of tasks) {
    if (t.nodeId !== null && total.has(t.nodeId) && t.desiredState === 'RUNNING' && !isTerminalTaskState(t.state)) {
      bump(t.serviceName, t.nodeId);
    }
  }

  const commands: Command[] = [];
  for (const task of pending) {
    const counts = perService.get(task.serviceName);
    let best = candidates[0]!;
    let bestKey = [counts?.get(best.id) ?? 0, total.get(best.id) ?? 0];
    for (let i = 1; i < candidates.length; i++) {
      const node = candidates[i]!;
      const key = [counts?.get(node.id) ?? 0, total.get(node.id) ?? 0];
      if (key[0]! < bestKey[0]! || (key[0] === bestKey[0] && key[1]! < bestKey[1]!)) {
        best = node;
        bestKey = key;
      }
    }
    commands.push({ type: 'task.assign', taskId: task.id, nodeId: best.id, at });
    bump(task.serviceName, best.id);
  }
  return { commands, unplaced: [] };
}

/** Why no node can take a task, in words for `service ps`. */
function explainNoNode(nodes: readonly NodeRecord[]): string {
  if (nodes.length === 0) return 'no nodes in the cluster';
  const parts = nodes.map((n) => `${n.name}: ${n.status !== 'READY' ? `status ${n.status}` : `availability ${n.availability}`}`);
  return `no node can take it (${parts.join('; ')})`;
}
