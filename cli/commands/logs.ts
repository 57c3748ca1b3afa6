import type { Command } from 'commander';
import { clientFor } from '../context';
import { logsQuery, parseTail } from '../parse';
import { pipeToStdout } from '../stream';

/** `bicycle logs [-f] [--tail N]`: the daemon's own log. */
export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description("print the daemon's own log")
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--tail <n>', 'start with the last N lines', parseTail)
    .action(async (options: { follow?: boolean; tail?: number }, cmd: Command) => {
      await pipeToStdout(clientFor(cmd), `/logs${logsQuery(options)}`);
    });
}
