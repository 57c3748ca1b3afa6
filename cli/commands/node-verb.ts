import type { Command } from 'commander';
import type { ApiClient } from '../api-client';
import { clientFor } from '../context';

/**
 * A node verb that takes one node (id or name), asks the daemon once and
 * prints the node's name: `rm`, `pause`, `promote`, `demote`.
 */
export function registerNodeVerb(node: Command, verb: string, description: string, act: (client: ApiClient, idOrName: string) => Promise<string>): void {
  node
    .command(verb)
    .description(description)
    .argument('<node>', 'node id or name')
    .action(async (idOrName: string, _options: unknown, cmd: Command) => {
      process.stdout.write(`${await act(clientFor(cmd), idOrName)}\n`);
    });
}
