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

export function taskTable(service: Service, nowMs: number): string {
  const rows = [...service.tasks].sort(compareTasks).map((t) => [
    shortId(t.id),
    taskName(service.name, t),
    t.node,
    t.desiredState,
    `${t.state} ${formatAge(t.updatedAt, nowMs)}`,
    t.error ?? '',
  ]);
  return formatTable(['ID', 'NAME', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], rows);
}

/** `bicycle service ps NAME [--json]` */
export function registerServicePs(service: Command): void {
  service
    .command('ps')
    .description("list a service's tasks")
    .argument('<name>', 'service name')
    .option('--json', 'print the raw JSON of the tasks')
    .action(async (name: string, options: { json?: boolean }, cmd: Command) => {
      const found = await clientFor(cmd).getService(name);
      if (options.json) printJson(found.tasks);
      else process.stdout.write(taskTable(found, Date.now()));
    });
}
