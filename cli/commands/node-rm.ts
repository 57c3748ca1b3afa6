import type { Command } from 'commander';
import { clientFor } from '../context';

/** `bicycle node rm NODE` */
export function registerNodeRm(node: Command): void {
  node
    .command('rm')
    .description('remove a node from the cluster; its replicas are placed on the others')
    .argument('<node>', 'node id or name')
    .action(async (idOrName: string, _options: unknown, cmd: Command) => {
      const removed = await clientFor(cmd).removeNode(idOrName);
      process.stdout.write(`${removed}\n`);
    });
}
