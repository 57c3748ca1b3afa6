import type { Command } from '../../database/commands';
import type { NodeRecord } from '../../database/queries';

export interface HostMonitorInput {
  nodes: readonly NodeRecord[];
  selfId: string;
  /** When the leader last heard from each node (ms since the epoch). */
  lastContact: ReadonlyMap<string, number>;
  /** When this node became leader: nodes not heard from since get the whole grace from then. */
  leaderSince: number;
  now: number;
  graceMs: number;
}

/**
 * Host-loss detection, decided on the leader: a READY node not heard from
 * for `graceMs` goes DOWN; a DOWN or UNKNOWN node heard from within the grace
 * is READY again. Pure.
 */
export function detectHostChanges(input: HostMonitorInput): Command[] {
  const commands: Command[] = [];
  for (const node of input.nodes) {
    if (node.id === input.selfId) {
      if (node.status !== 'READY') commands.push({ type: 'node.set-status', nodeId: node.id, status: 'READY', at: input.now });
      continue;
    }
    const heard = input.lastContact.get(node.id);
    const silentMs = input.now - Math.max(heard ?? 0, input.leaderSince);
    if (node.status === 'READY' && silentMs > input.graceMs) {
      commands.push({ type: 'node.set-status', nodeId: node.id, status: 'DOWN', at: input.now });
    } else if (node.status !== 'READY' && heard !== undefined && input.now - heard <= input.graceMs) {
      commands.push({ type: 'node.set-status', nodeId: node.id, status: 'READY', at: input.now });
    }
  }
  return commands;
}
