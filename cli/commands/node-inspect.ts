import type { Command } from 'commander';
import { clientFor, printJson } from '../context';

/** `bicycle node inspect NODE`: the node as JSON (labels, facts, reserved and free capacity among its fields). */
export function registerNodeInspect(node: Command): void {
  node
    .command('inspect')
    .description('print a node as JSON')
    .argument('<node>', 'node id or name')
    .action(async (idOrName: string, _options: unknown, cmd: Command) => {
      printJson(await clientFor(cmd).getNode(idOrName));
    });
}
