import type { Command } from 'commander';
import { clientFor } from '../context';
import { logsQuery, parseTail } from '../parse';
import { pipeToStdout } from '../stream';

/** `bicycle service logs NAME [-f] [--tail N]` */
export function registerServiceLogs(service: Command): void {
  service
    .command('logs')
    .description("print a service's container logs, each line prefixed by its replica")
    .argument('<name>', 'service name')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--tail <n>', 'start with the last N lines of each replica', parseTail)
    .action(async (name: string, options: { follow?: boolean; tail?: number }, cmd: Command) => {
      const client = clientFor(cmd);
      await pipeToStdout(client, `/services/${encodeURIComponent(name)}/logs${logsQuery(options)}`);
    });
}
