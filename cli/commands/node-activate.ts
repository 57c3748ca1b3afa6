import type { Command } from 'commander';
import { clientFor } from '../context';

/** The stderr line after `activate --rebalance`: which services will move replicas back. */
export function rebalanceNote(services: readonly string[]): string {
  if (services.length === 0) return 'no services to rebalance';
  return `rebalancing ${services.join(', ')}: replicas move a few at a time (watch with: bicycle service ps NAME)`;
}

/** `bicycle node activate NODE [--rebalance]` */
export function registerNodeActivate(node: Command): void {
  node
    .command('activate')
    .description('let a drained or paused node take replicas again')
    .argument('<node>', 'node id or name')
    .option('--rebalance', 'also ask every service to even out its replicas over the nodes, this one included')
    .action(async (idOrName: string, options: { rebalance?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const activated = await client.setNodeAvailability(idOrName, 'active');
      if (activated.status !== 'READY') {
        process.stderr.write(`${activated.name} is ${activated.status}: it takes replicas once it is READY\n`);
      }
      if (options.rebalance) process.stderr.write(rebalanceNote(await client.rebalanceAll()) + '\n');
      process.stdout.write(`${activated.name}\n`);
    });
}
