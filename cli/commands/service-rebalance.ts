import type { Command } from 'commander';
import { clientFor, waitDeps, withWaitOptions, type WaitOptions } from '../context';
import { waitForRebalance } from '../wait';

/** `bicycle service rebalance NAME [-d] [--timeout S]` */
export function registerServiceRebalance(service: Command): void {
  withWaitOptions(
    service
      .command('rebalance')
      .description("even out a service's replicas over the nodes, then wait until the daemon finds it even")
      .argument('<name>', 'service name'),
  ).action(async (name: string, options: WaitOptions, cmd: Command) => {
    const client = clientFor(cmd);
    await client.rebalanceService(name);
    if (!options.detach) await waitForRebalance(client, name, options.timeout, waitDeps);
    process.stdout.write(`${name}\n`);
  });
}
