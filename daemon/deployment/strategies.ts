import type { Strategy } from '../../database/placement';

/**
 * The scoring strategies (docs/deployment.md, "Placement"). Every one sees a
 * node as its counters and the demand of the task to place, and answers a
 * score: the scheduler places on the lowest. Filters (availability,
 * constraints, resources, per-node limits) have run before: a strategy only
 * chooses among nodes that fit. Ties go to the node first by name. Pure.
 */
export interface NodeLoad {
  /** Tasks of the service being placed on the node. */
  serviceTasks: number;
  /** Tasks of every service on the node. */
  tasks: number;
  /** Reserved CPUs and memory (bytes), and the node's capacity (from its facts; 0 when unknown). */
  cpus: number;
  memoryBytes: number;
  cpuCapacity: number;
  memoryCapacity: number;
}

export interface Demand {
  cpus: number;
  memoryBytes: number;
}

export type Score = (node: NodeLoad, demand: Demand) => number;

/** Spread: the fewest tasks of this service, then the fewest tasks in all (as Swarm's default). */
export const spreadScore: Score = (node) => node.serviceTasks * 1e9 + node.tasks;

/**
 * Binpack: the fullest node that fits first. Fullness is the larger of its
 * CPU and memory shares once the task is on it; for a task that reserves
 * nothing, its task count stands in, so tasks pile onto few nodes.
 */
export const binpackScore: Score = (node, demand) => {
  if (demand.cpus === 0 && demand.memoryBytes === 0) return -node.tasks;
  const share = Math.max(
    node.cpuCapacity > 0 ? (node.cpus + demand.cpus) / node.cpuCapacity : 0,
    node.memoryCapacity > 0 ? (node.memoryBytes + demand.memoryBytes) / node.memoryCapacity : 0,
  );
  return -share * 1e6 - node.tasks * 1e-3;
};

/**
 * EPVM (the Enhanced PVM scheduler's opportunity cost): each resource r of
 * a node costs a^(used_r / capacity_r), with a the number of candidate
 * nodes; the node whose cost grows least when the task lands there wins.
 * Resources: CPU and memory reserved, and the task count against 100 tasks
 * per CPU, so tasks that reserve nothing still spread by load.
 */
export function epvmScore(base: number): Score {
  const lnA = Math.log(Math.max(2, base));
  // a^x as e^(x ln a): the same value, without a power per term.
  const cost = (used: number, capacity: number) => (capacity > 0 ? Math.exp(lnA * Math.min(used / capacity, 64)) : 0);
  return (node, demand) => {
    const taskCapacity = Math.max(1, node.cpuCapacity) * 100;
    return (
      cost(node.cpus + demand.cpus, node.cpuCapacity) - cost(node.cpus, node.cpuCapacity) +
      cost(node.memoryBytes + demand.memoryBytes, node.memoryCapacity) - cost(node.memoryBytes, node.memoryCapacity) +
      cost(node.tasks + 1, taskCapacity) - cost(node.tasks, taskCapacity)
    );
  };
}

/** The score for a strategy among `candidates` nodes; round-robin is not a score (the scheduler walks its nodes in turn). */
export function scoreFor(strategy: Exclude<Strategy, 'round-robin'>, candidates: number): Score {
  switch (strategy) {
    case 'spread':
      return spreadScore;
    case 'binpack':
      return binpackScore;
    case 'epvm':
      return epvmScore(candidates);
  }
}
