import type { Command } from 'commander';
import { clientFor } from '../context';

/** `bicycle node promote NODE` */
export function registerNodePromote(node: Command): void {
  node
    .command('promote')
    .description('make a worker a manager: it votes and may lead')
    .argument('<node>', 'node id or name')
    .action(async (idOrName: string, _options: unknown, cmd: Command) => {
      const promoted = await clientFor(cmd).changeRole(idOrName, 'promote');
      process.stdout.write(`${promoted.name}\n`);
    });
}
