import type { Command } from 'commander';
import { clientFor } from '../context';

/** `bicycle node demote NODE` */
export function registerNodeDemote(node: Command): void {
  node
    .command('demote')
    .description('make a manager a worker: it runs replicas but no longer votes')
    .argument('<node>', 'node id or name')
    .action(async (idOrName: string, _options: unknown, cmd: Command) => {
      const demoted = await clientFor(cmd).changeRole(idOrName, 'demote');
      process.stdout.write(`${demoted.name}\n`);
    });
}
