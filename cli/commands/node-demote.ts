import type { Command } from 'commander';
import { registerNodeVerb } from './node-verb';

/** `bicycle node demote NODE` */
export function registerNodeDemote(node: Command): void {
  registerNodeVerb(node, 'demote', 'make a manager a worker: it runs replicas but no longer votes', async (client, id) => (await client.changeRole(id, 'demote')).name);
}
