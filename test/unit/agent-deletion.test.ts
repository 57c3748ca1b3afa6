import { test } from 'node:test';
import assert from 'node:assert/strict';
import winston from 'winston';
import { openDatabase, type Db } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';
import { setLocal } from '../../database/queries';
import { Agent } from '../../daemon/deployment/agent';
import type { ContainerRuntime, ContainerSpec } from '../../daemon/deployment/container-runtime';
import type { ObservedContainer } from '../../daemon/deployment/agent-reconcile';

const at = 1_700_000_000_000;
const spec = { image: 'missing/image:1', command: null, env: {}, labels: {}, ports: [] };

function apply(db: Db, command: Command): void {
  const result = applyCommand(db, command);
  if (!result.ok) throw new Error(`${command.type}: ${result.error.message}`);
}

/** An engine whose creates wait until released, one at a time: the agent's queue fills up behind them. */
class SlowRuntime implements ContainerRuntime {
  created: string[] = [];
  started: string[] = [];
  private waiting: (() => void)[] = [];
  async list(): Promise<ObservedContainer[]> {
    return [];
  }
  async create(s: ContainerSpec): Promise<string> {
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.created.push(s.name);
    return `c-${s.name}`;
  }
  async start(id: string): Promise<number> {
    this.started.push(id);
    return at;
  }
  async inspect() {
    return { startedAt: Date.now(), health: 'none' as const, healthOutput: null };
  }
  async remove(): Promise<void> {}
  async pull(): Promise<void> {}
  async bridge() {
    return null;
  }
  async watch() {
    return () => undefined;
  }
  /** Lets the creates under way finish; returns how many. */
  release(): number {
    const n = this.waiting.length;
    for (const r of this.waiting.splice(0)) r();
    return n;
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('starts queued before a service is deleted are dropped, not run; the creates under way are not started', async () => {
  const db = openDatabase(':memory:', { migrate: true });
  apply(db, { type: 'cluster.init', clusterId: 'cl', secret: 's'.repeat(24), joinToken: 'BCT1-cl-x', at });
  apply(db, { type: 'node.register', node: { id: 'n1', name: 'host-a', address: '127.0.0.1:7070', role: 'manager', startedAt: at }, at });
  setLocal(db, 'node_id', 'n1');
  apply(db, { type: 'service.create', id: 'big', name: 'big', spec, replicas: 50, at });
  for (let slot = 1; slot <= 50; slot++) {
    apply(db, { type: 'task.create', id: `t${slot}`, serviceName: 'big', slot, specVersion: 1, at });
    apply(db, { type: 'task.assign', taskId: `t${slot}`, nodeId: 'n1', at });
  }
  const runtime = new SlowRuntime();
  const proposed: Command[] = [];
  const agent = new Agent({
    db, runtime, nodeId: 'n1', concurrency: 4, stopGracePeriodMs: 0, hostGraceMs: 3_600_000, now: () => at,
    propose: async (c) => void proposed.push(c),
    log: winston.createLogger({ silent: true }),
    wake: () => undefined,
  });
  await agent.pass();
  await settle();
  // 4 creates are under way, 46 wait in the queue. The service is deleted now.
  apply(db, { type: 'service.delete', name: 'big', at });
  assert.equal(runtime.release(), 4);
  for (let i = 0; i < 20; i++) {
    await settle();
    runtime.release();
  }
  await agent.drain();
  assert.equal(runtime.created.length, 4, 'only the creates already under way reached the engine');
  assert.deepEqual(runtime.started, [], 'and none of them was started');

  // A later pass starts nothing for the service either.
  await agent.pass();
  await settle();
  assert.equal(runtime.release(), 0);
  db.close();
});
