import type { Command } from 'commander';
import { clientFor, printJson } from '../context';

/** `bicycle service inspect NAME` */
export function registerServiceInspect(service: Command): void {
  service
    .command('inspect')
    .description('print a service as JSON')
    .argument('<name>', 'service name')
    .action(async (name: string, _options: unknown, cmd: Command) => {
      printJson(await clientFor(cmd).getService(name));
    });
}
