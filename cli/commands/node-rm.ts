import type { Command } from 'commander';
import { registerNodeVerb } from './node-verb';

/** `bicycle node rm NODE` */
export function registerNodeRm(node: Command): void {
  registerNodeVerb(node, 'rm', 'remove a node from the cluster; its replicas are placed on the others', (client, id) => client.removeNode(id));
}
