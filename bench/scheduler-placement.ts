/**
 * The scheduler with every filter on (bench:scheduler, second table):
 * placements per second of the pure schedule() at 5,000 nodes and 100,000
 * and 1,000,000 tasks in services of 100 replicas, each service with a
 * constraint (`node.labels.zone!=z9`), a spread preference over 10 zones, a
 * reservation (0.01 CPU, 16 MiB) and one of the four strategies, all
 * unplaced at once. Nodes have 64 CPUs and 256 GiB, so nothing runs out.
 * Beside it, the same tasks with no placement settings (the fast path) in
 * the same run.
 */
import { performance } from 'node:perf_hooks';
import { schedule, schedulerInput } from '../daemon/deployment/scheduler';
import type { Strategy } from '../database/placement';
import type { NodeRecord, ServiceRecord } from '../database/queries';
import { nodeRecord, serviceRecord, taskRecord } from '../test/helpers/records';
import { AT } from '../test/helpers/records';

const REPLICAS_PER_SERVICE = 100;
const ZONES = 10;

export interface PlacementRow {
  nodes: number;
  tasks: number;
  strategy: Strategy | 'none (fast path)';
  perSecond: number;
  passMs: number;
  unplaced: number;
}

function makeNodes(count: number): NodeRecord[] {
  return Array.from({ length: count }, (_, i) =>
    nodeRecord(`node-${i.toString(16).padStart(8, '0')}`, {
      name: `host-${String(i).padStart(5, '0')}`,
      labels: { zone: `z${i % ZONES}` },
      facts: { cpus: 64, memoryBytes: 256 * 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24' },
    }),
  );
}

function makeServices(tasks: number, strategy: Strategy | null): Map<string, ServiceRecord> {
  const services = new Map<string, ServiceRecord>();
  for (let s = 0; s < tasks / REPLICAS_PER_SERVICE; s++) {
    const name = `svc-${String(s).padStart(6, '0')}`;
    services.set(name, serviceRecord(name, {
      replicas: REPLICAS_PER_SERVICE,
      ...(strategy
        ? {
            placement: { constraints: ['node.labels.zone!=z9'], preferences: [{ spread: 'node.labels.zone' }], strategy },
            resources: { reservations: { cpus: 0.01, memoryBytes: 16 * 2 ** 20 } },
          }
        : {}),
    }));
  }
  return services;
}

export function measurePlacement(nodeCount: number, taskCount: number, strategy: Strategy | null): PlacementRow {
  const nodes = makeNodes(nodeCount);
  const services = makeServices(taskCount, strategy);
  const tasks = [...services.keys()].flatMap((name, s) =>
    Array.from({ length: REPLICAS_PER_SERVICE }, (_, i) => taskRecord(name, i + 1, { id: `task-${s}-${i + 1}` })),
  );
  const input = schedulerInput(tasks);
  const start = performance.now();
  const result = schedule(input, nodes, AT, { services, strategy: 'spread', cursors: new Map() });
  const passMs = performance.now() - start;
  return {
    nodes: nodeCount, tasks: taskCount, strategy: strategy ?? 'none (fast path)',
    perSecond: result.commands.length / (passMs / 1000), passMs, unplaced: result.unplaced.length,
  };
}
