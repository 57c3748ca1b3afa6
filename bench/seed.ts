import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { applyCommand } from '../database/apply-command';
import type { Command } from '../database/commands';
import { openDatabase } from '../database/open-database';
import { setLocal } from '../database/queries';

/** The config change a daemon over simulated nodes needs: an hour before a silent node is declared lost. */
export const SIMULATED_NODES_CONFIG = { voting: { hostGraceMs: 3_600_000 } };

export interface SeedOptions {
  services: number;
  tasksPerService: number;
  /** Simulated worker nodes that hold the tasks (never this daemon's node, so its agent starts no container). */
  simulatedNodes: number;
  /** Dead tasks per slot besides the running one (FAILED an hour ago, desired SHUTDOWN): a crash loop's history. Default 0. */
  deadPerSlot?: number;
}

export interface Seeded {
  nodeId: string;
  clusterId: string;
  tasks: number;
  commands: number;
}

/**
 * Seeds a daemon's database before it starts, through the real code path:
 * the schema by openDatabase's migrations, the rows by applyCommand with the
 * same replicated commands the daemon would commit — cluster.init,
 * node.register of simulated worker nodes, service.create, task.create,
 * task.assign, task.observe STARTING then RUNNING (with a fake container id and
 * start time), and service.set-state DEPLOYING then RUNNING — so the rows pass
 * every state machine. This node's id is put in local_state, where bicycled
 * looks for it at start (it then registers itself as the manager). The
 * result is a cluster in its steady state: every service RUNNING, every task
 * RUNNING on a READY simulated node. No log entries are written: the rows
 * are what a snapshot would restore. The simulated nodes never send a
 * heartbeat, so the daemon must run with a long voting.hostGraceMs
 * (SIMULATED_NODES_CONFIG), or its leader would mark them DOWN after 3 s and
 * replace their 1,000 tasks with real containers on this host.
 */
export function seedDatabase(dataDir: string, o: SeedOptions): Seeded {
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(join(dataDir, 'bicycle.db'), { migrate: true });
  const nodeId = randomBytes(8).toString('hex');
  const clusterId = randomBytes(8).toString('hex');
  const at = Date.now();
  let commands = 0;
  const apply = (command: Command) => {
    const result = applyCommand(db, command);
    if (!result.ok) throw new Error(`seeding: ${command.type} refused: ${result.error.message}`);
    commands++;
  };
  try {
    db.transaction(() => {
      setLocal(db, 'node_id', nodeId);
      const secret = randomBytes(24).toString('base64url');
      setLocal(db, 'cluster_secret', secret);
      apply({ type: 'cluster.init', clusterId, secret, joinToken: `BCT1-${clusterId}-${randomBytes(16).toString('base64url')}`, at });
      const nodes = Array.from({ length: o.simulatedNodes }, (_, i) => ({
        id: `sim${String(i).padStart(4, '0')}${randomBytes(4).toString('hex')}`,
        name: `sim-${String(i + 1).padStart(4, '0')}`,
        address: `192.0.2.${(i % 250) + 1}:7070`,
        role: 'worker' as const,
        startedAt: at,
      }));
      for (const node of nodes) apply({ type: 'node.register', node, at });
      let placed = 0;
      for (let s = 0; s < o.services; s++) {
        const name = `seed-${String(s).padStart(4, '0')}`;
        apply({
          type: 'service.create',
          id: randomBytes(12).toString('hex'),
          name,
          spec: { image: 'bicycle/busybox:test', command: ['sleep', '3600'], env: { SEEDED: 'true' }, labels: { bench: 'api' }, ports: [] },
          replicas: o.tasksPerService,
          at,
        });
        apply({ type: 'service.set-state', name, state: 'DEPLOYING', version: 1, at });
        for (let slot = 1; slot <= o.tasksPerService; slot++) {
          for (let d = 0; d < (o.deadPerSlot ?? 0); d++) {
            const deadId = randomBytes(12).toString('hex');
            const then = at - 3_600_000 + d;
            apply({ type: 'task.create', id: deadId, serviceName: name, slot, specVersion: 1, at: then });
            apply({ type: 'task.assign', taskId: deadId, nodeId: nodes[placed % nodes.length]!.id, at: then });
            apply({ type: 'task.observe', taskId: deadId, state: 'FAILED', error: 'cannot create the container: no such image: seed/missing:latest', at: then });
            apply({ type: 'task.set-desired', taskId: deadId, desiredState: 'SHUTDOWN', at: then });
          }
          const taskId = randomBytes(12).toString('hex');
          apply({ type: 'task.create', id: taskId, serviceName: name, slot, specVersion: 1, at });
          apply({ type: 'task.assign', taskId, nodeId: nodes[placed++ % nodes.length]!.id, at });
          apply({ type: 'task.observe', taskId, state: 'STARTING', at });
          apply({ type: 'task.observe', taskId, state: 'RUNNING', containerId: randomBytes(32).toString('hex'), startedAt: at, at });
        }
        apply({ type: 'service.set-state', name, state: 'RUNNING', version: 1, at });
      }
    })();
  } finally {
    db.close();
  }
  return { nodeId, clusterId, tasks: o.services * o.tasksPerService * (1 + (o.deadPerSlot ?? 0)), commands };
}
