import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { taskName } from '../converge';
import { formatAge, shortId } from '../format';
import { formatTable } from '../table';
import type { Service, Task } from '../types';

/** Slot order; within a slot the task meant to run first, then the newest. */
function compareTasks(a: Task, b: Task): number {
  if (a.slot !== b.slot) return a.slot - b.slot;
  if (a.desiredState !== b.desiredState) return a.desiredState === 'RUNNING' ? -1 : 1;
  return Date.parse(b.updatedAt) - Date.parse(a.updatedAt);
}

export const ERROR_WIDTH = 60;

/** Cuts `text` to `width` characters, ending with "…" when cut. */
export function truncate(text: string, width: number): string {
  const flat = text.trim().replace(/\s+/g, ' ');
  return [...flat].length <= width ? flat : [...flat].slice(0, width - 1).join('') + '…';
}

/** A task's health while it runs (`none` without a check); blank for one not running, or not reported yet. */
export function healthText(task: Task): string {
  return task.state === 'RUNNING' && task.health ? task.health : '';
}

/**
 * The tasks table. Older tasks of a slot follow the current one, marked
 * `\_ ` as docker does; errors are cut to ERROR_WIDTH unless `noTrunc`.
 */
export function taskTable(service: Pick<Service, 'name' | 'tasks'>, nowMs: number, noTrunc = false): string {
  let previousSlot: number | undefined;
  const rows = [...service.tasks].sort(compareTasks).map((t) => {
    const name = t.slot === previousSlot ? ` \\_ ${taskName(service.name, t)}` : taskName(service.name, t);
    previousSlot = t.slot;
    const error = t.error ? (noTrunc ? t.error.trim() : truncate(t.error, ERROR_WIDTH)) : '';
    return [shortId(t.id), name, t.node, t.desiredState, `${t.state} ${formatAge(t.updatedAt, nowMs)}`, healthText(t), error];
  });
  return formatTable(['ID', 'NAME', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'HEALTH', 'ERROR'], rows);
}

/** `bicycle service ps NAME [--json]` */
export function registerServicePs(service: Command): void {
  service
    .command('ps')
    .description("list a service's tasks")
    .argument('<name>', 'service name')
    .option('--no-trunc', 'print errors whole')
    .option('--json', 'print the raw JSON of the tasks')
    .action(async (name: string, options: { json?: boolean; trunc: boolean }, cmd: Command) => {
      // Every task, history included, page after page (GET /services/:name/tasks).
      const tasks = await clientFor(cmd).listTasks(name);
      if (options.json) printJson(tasks);
      else process.stdout.write(taskTable({ name, tasks }, Date.now(), !options.trunc));
    });
}
