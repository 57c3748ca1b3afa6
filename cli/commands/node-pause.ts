import type { Command } from 'commander';
import { clientFor } from '../context';

/** `bicycle node pause NODE` */
export function registerNodePause(node: Command): void {
  node
    .command('pause')
    .description('stop placing new replicas on a node; the ones it runs stay')
    .argument('<node>', 'node id or name')
    .action(async (idOrName: string, _options: unknown, cmd: Command) => {
      const paused = await clientFor(cmd).setNodeAvailability(idOrName, 'pause');
      process.stdout.write(`${paused.name}\n`);
    });
}
