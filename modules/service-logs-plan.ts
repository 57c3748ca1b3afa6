import type { TaskState } from '../database/task-state';
import { isTerminalTaskState } from '../database/task-state';

/** What the follow plan reads of a task: a row of the tasks table, as this node applied it. */
export interface LogTask {
  id: string;
  slot: number;
  nodeId: string | null;
  containerId: string | null;
  state: TaskState;
  /** When the row last changed (ms): for an ORPHANED task, when its node's loss was recorded. */
  updatedAt: number;
}

/** One step of `service logs`: open a container's log, close one, or say that a replica was lost and replaced. */
export type FollowAction =
  /** `fromStart`: the whole log (a container that started during the follow), else the requested tail. */
  | { kind: 'open'; taskId: string; containerId: string; replica: string; nodeId: string | null; fromStart: boolean }
  | { kind: 'close'; taskId: string }
  | { kind: 'lost'; replica: string; nodeId: string | null; at: number; replacement: { replica: string; nodeId: string | null } };

interface Opened {
  replica: string;
  nodeId: string | null;
  closed: boolean;
}

/**
 * Decides, from successive reads of a service's tasks, which container logs
 * a `service logs` request carries. Pure: no clock, no I/O; the caller reads
 * the rows and carries out the actions in order.
 *
 * - A container is opened once, never again (so no line is sent twice):
 *   without follow every task that has a container and has not ended; with
 *   follow those whose task is RUNNING (a container created but not started
 *   has no log to follow yet), on the first read with the requested tail,
 *   later from its first line.
 * - A container's log ends by itself when the container stops. Only a task
 *   marked ORPHANED (its node lost) or gone from the table is closed, since
 *   its log would never end: the node that held it does not answer.
 * - An ORPHANED replica is announced once its slot has a new open replica
 *   (`lost`, just before that replica's `open`), or at once when the new one
 *   was opened first.
 */
export class FollowPlan {
  private readonly opened = new Map<string, Opened>();
  /** Slots whose followed replica was lost and has no replacement yet. */
  private readonly lost = new Map<string, { nodeId: string | null; at: number }>();
  private first = true;

  constructor(private readonly service: string, private readonly follow: boolean) {}

  /** The actions that bring the request in line with `tasks` (the service's tasks, ordered by slot then creation). */
  step(tasks: readonly LogTask[]): FollowAction[] {
    const actions: FollowAction[] = [];
    const present = new Set<string>();
    for (const task of tasks) {
      present.add(task.id);
      const replica = `${this.service}.${task.slot}`;
      const seen = this.opened.get(task.id);
      if (seen) {
        if (task.state === 'ORPHANED' && !seen.closed) {
          seen.closed = true;
          actions.push({ kind: 'close', taskId: task.id });
          const successor = this.openReplicaOf(replica, task.id);
          if (successor) actions.push({ kind: 'lost', replica, nodeId: seen.nodeId, at: task.updatedAt, replacement: successor });
          else this.lost.set(replica, { nodeId: seen.nodeId, at: task.updatedAt });
        }
        continue;
      }
      if (!this.wanted(task)) continue;
      const loss = this.lost.get(replica);
      if (loss) {
        this.lost.delete(replica);
        actions.push({ kind: 'lost', replica, nodeId: loss.nodeId, at: loss.at, replacement: { replica, nodeId: task.nodeId } });
      }
      this.opened.set(task.id, { replica, nodeId: task.nodeId, closed: false });
      actions.push({ kind: 'open', taskId: task.id, containerId: task.containerId!, replica, nodeId: task.nodeId, fromStart: !this.first });
    }
    for (const [taskId, seen] of this.opened) {
      if (present.has(taskId) || seen.closed) continue;
      seen.closed = true;
      actions.push({ kind: 'close', taskId });
    }
    this.first = false;
    return actions;
  }

  private wanted(task: LogTask): boolean {
    if (task.containerId === null) return false;
    return this.follow ? task.state === 'RUNNING' : !isTerminalTaskState(task.state);
  }

  private openReplicaOf(replica: string, except: string): { replica: string; nodeId: string | null } | undefined {
    for (const [taskId, seen] of this.opened) {
      if (taskId !== except && seen.replica === replica && !seen.closed) return { replica, nodeId: seen.nodeId };
    }
    return undefined;
  }
}

/** `HH:MM:SS` of `at` (ms) in the time zone of this process (TZ). */
export function clockTime(at: number): string {
  const d = new Date(at);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** The line that marks a lost replica: `--- web.2 on host-2: lost at 12:00:03, replaced by web.2 on host-3 ---`. */
export function formatLostMarker(
  marker: { replica: string; node: string; at: number; replacement: { replica: string; node: string } },
  clock: (at: number) => string = clockTime,
): string {
  return `--- ${marker.replica} on ${marker.node}: lost at ${clock(marker.at)}, replaced by ${marker.replacement.replica} on ${marker.replacement.node} ---`;
}

/** The last line of a follow that ended because the service was removed. */
export function formatRemovedMarker(service: string): string {
  return `--- service ${service} removed ---`;
}
