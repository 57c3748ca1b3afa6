import type { Command } from 'commander';
import { registerNodeVerb } from './node-verb';

/** `bicycle node pause NODE` */
export function registerNodePause(node: Command): void {
  registerNodeVerb(node, 'pause', 'stop placing new replicas on a node; the ones it runs stay', async (client, id) => (await client.setNodeAvailability(id, 'pause')).name);
}
