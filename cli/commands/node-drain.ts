import type { Command } from 'commander';
import { clientFor, waitDeps, withWaitOptions, type WaitOptions } from '../context';
import { waitForDrain } from '../wait';

/** `bicycle node drain NODE [-d] [--timeout S]` */
export function registerNodeDrain(node: Command): void {
  withWaitOptions(
    node
      .command('drain')
      .description('stop placing replicas on a node and move its replicas away, then wait until it runs none')
      .argument('<node>', 'node id or name'),
  ).action(async (idOrName: string, options: WaitOptions, cmd: Command) => {
    const client = clientFor(cmd);
    const drained = await client.setNodeAvailability(idOrName, 'drain');
    if (!options.detach) await waitForDrain(client, drained, options.timeout, waitDeps);
    process.stdout.write(`${drained.name}\n`);
  });
}
