import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { formatAge } from '../format';
import { formatTable } from '../table';
import { truncate } from './service-ps';
import type { Healthcheck, ServiceVersion } from '../types';

const COMMAND_WIDTH = 40;

/** `CMD-SHELL wget -q -O- localhost`, `none` for ["NONE"], `image's` when the service gives none. */
export function healthcheckText(check: Healthcheck | null): string {
  if (!check) return "image's";
  if (check.test[0] === 'NONE') return 'none';
  return check.test.join(' ');
}

/** The versions table, newest first; `*` marks the one the service runs. */
export function historyTable(versions: readonly ServiceVersion[], nowMs: number): string {
  const rows = [...versions]
    .sort((a, b) => b.version - a.version)
    .map((v) => [
      v.version,
      v.current ? '*' : '',
      v.image,
      v.command ? truncate(v.command.join(' '), COMMAND_WIDTH) : '',
      truncate(healthcheckText(v.healthcheck), COMMAND_WIDTH),
      formatAge(v.createdAt, nowMs),
    ]);
  return formatTable(['VERSION', 'CURRENT', 'IMAGE', 'COMMAND', 'HEALTHCHECK', 'CREATED'], rows);
}

/** `bicycle service history NAME [--json]` */
export function registerServiceHistory(service: Command): void {
  service
    .command('history')
    .description("list a service's recorded spec versions, newest first")
    .argument('<name>', 'service name')
    .option('--json', 'print the raw JSON of the versions')
    .action(async (name: string, options: { json?: boolean }, cmd: Command) => {
      const versions = await clientFor(cmd).serviceHistory(name);
      if (options.json) printJson(versions);
      else process.stdout.write(historyTable(versions, Date.now()));
    });
}
