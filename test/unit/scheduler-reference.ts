import type { ScheduleResult } from '../../daemon/deployment/scheduler';
import type { Command } from '../../database/commands';
import type { NodeRecord, TaskRecord } from '../../database/queries';
import { isSchedulable } from '../../database/node-state';
import { isTerminalTaskState } from '../../database/task-state';

/**
 * The scheduler as first written, kept as the specification of its
 * placements: for each pending task in (service, slot) order, scan every
 * schedulable node in name order and take the first with the least
 * (tasks of this service, tasks in all). O(tasks x nodes); schedule() must
 * decide exactly as this does. (The no-node explanation is shared, so only
 * its presence is compared.) Also the "before" of bench/scheduler.ts.
 */
export function referenceSchedule(tasks: readonly TaskRecord[], nodes: readonly NodeRecord[], at: number): ScheduleResult {
  const candidates = nodes.filter(isSchedulable).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const pending = tasks
    .filter((t) => t.nodeId === null && t.state === 'NEW' && t.desiredState === 'RUNNING')
    .sort((a, b) => (a.serviceName < b.serviceName ? -1 : a.serviceName > b.serviceName ? 1 : a.slot - b.slot));
  if (pending.length === 0) return { commands: [], unplaced: [] };
  if (candidates.length === 0) return { commands: [], unplaced: pending.map((t) => ({ taskId: t.id, reason: '(no node)' })) };

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

