import type { Command } from 'commander';
import { registerNodeVerb } from './node-verb';

/** `bicycle node promote NODE` */
export function registerNodePromote(node: Command): void {
  registerNodeVerb(node, 'promote', 'make a worker a manager: it votes and may lead', async (client, id) => (await client.changeRole(id, 'promote')).name);
}
