import type { PortSpec } from './commands';

/**
 * What a node cut off from every leader does with its replicas of a service
 * (docs/voting.md, "Cut off from the leader"): `stop` them once it has heard
 * from no leader for the host-loss grace, so a slot runs twice only for a
 * bounded window; or `keep` them running until it rejoins.
 */
export type OnDisconnect = 'stop' | 'keep';

export const ON_DISCONNECT_VALUES: readonly OnDisconnect[] = ['stop', 'keep'];

/**
 * The setting in effect: the service's own, or by default `stop` when it
 * publishes ports (clients reach its replicas, so two copies of a slot are
 * visible to them) and `keep` otherwise (a worker with no published port
 * keeps doing its work through a partition, as in Swarm and Nomad).
 */
export function effectiveOnDisconnect(setting: OnDisconnect | null | undefined, ports: readonly PortSpec[]): OnDisconnect {
  if (setting === 'stop' || setting === 'keep') return setting;
  return ports.length > 0 ? 'stop' : 'keep';
}
