import { describe, test, before, after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { RestContext } from '../../modules/context';
import { serveApp, stubRestContext } from '../helpers/rest-context';
import { openDatabase } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';
import { setLocal } from '../../database/queries';
import { writePrepullStatus } from '../../daemon/deployment/prepull-status';

/**
 * Placement over the REST routes and a real database (no Raft, no threads):
 * what POST/PATCH /services show of placement, resources, mode and
 * pre-pull; PATCH /nodes/:id with labels; a node's labels, facts,
 * reservations and free capacity; this node's pre-pull status in /state.
 */
// Two connections to one file, as in the daemon: the REST thread reads, another writes (GET /state's cache follows other connections' commits).
const dir = mkdtempSync(join(tmpdir(), 'bicycle-rest-placement-'));
const writer = openDatabase(join(dir, 'db.sqlite'), { migrate: true });
const db = openDatabase(join(dir, 'db.sqlite'));
const AT = 1_700_000_000_000;
let now = AT;
const proposed: Command[] = [];
const GiB = 1024 ** 3;

function apply(command: Command): void {
  const result = applyCommand(writer, command);
  if (!result.ok) throw new Error(`${command.type}: ${result.error.message}`);
}

const ctx: RestContext = stubRestContext(db, {
  async propose(command) {
    proposed.push(command);
    return applyCommand(writer, command);
  },
  now: () => (now += 1000),
  lifecycleDefaults: { updateParallelism: 2, stopGracePeriodMs: 10_000, prepull: true },
});

let server: Server;
let base = '';
before(async () => {
  apply({ type: 'cluster.init', clusterId: 'cl', secret: 's'.repeat(24), joinToken: 'BCT1-cl-x', at: AT });
  for (const [id, name] of [['n1', 'host-a'], ['n2', 'host-b']]) {
    apply({ type: 'node.register', node: { id: id!, name: name!, address: '127.0.0.1:7070', role: 'manager', startedAt: AT }, at: AT });
  }
  setLocal(writer, 'node_id', 'n1');
  ({ server, base } = await serveApp(ctx));
});
after(() => {
  server.close();
  db.close();
  writer.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const headers: Record<string, string> = body !== undefined ? { 'content-type': 'application/json' } : {};
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('a service\'s placement as the API shows it', () => {
  test('a service without placement fields shows none, replicated, and the cluster\'s pre-pull', async () => {
    const created = await call('POST', '/services', { name: 'plain', image: 'i:1', replicas: 0 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.mode, 'replicated');
    assert.deepEqual(created.body.placement, {});
    assert.deepEqual(created.body.resources, {});
    assert.equal(created.body.prepull, true, 'deployment.prepull is true here');
  });

  test('the fields given are shown, memory as bytes under the name POST takes', async () => {
    const created = await call('POST', '/services', {
      name: 'web', image: 'i:1', replicas: 2, prepull: false,
      placement: { constraints: ['node.labels.zone==a'], preferences: [{ spread: 'node.labels.zone' }], maxReplicasPerNode: 1, strategy: 'binpack' },
      resources: { reservations: { cpus: 0.5, memory: '1G' }, limits: { memory: '2G', pids: 64 } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = created.body;
    assert.deepEqual(s.placement, { constraints: ['node.labels.zone==a'], preferences: [{ spread: 'node.labels.zone' }], maxReplicasPerNode: 1, strategy: 'binpack' });
    assert.deepEqual(s.resources, { reservations: { cpus: 0.5, memory: GiB }, limits: { memory: 2 * GiB, pids: 64 } });
    assert.equal(s.prepull, false);
    const summary = (await call('GET', '/services')).body.services.find((x: any) => x.name === 'web');
    assert.deepEqual(summary.resources, s.resources, 'the summary shows the same');
    const history = (await call('GET', '/services/web/history')).body.versions;
    assert.deepEqual(history[0].limits, { memory: 2 * GiB, pids: 64 });
  });

  test('a refusal names the field', async () => {
    const refused = await call('POST', '/services', { name: 'bad', image: 'i:1', placement: { constraints: ['zone==a'] } });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /^placement\.constraints\.0: "zone==a" is not a constraint/);
  });

  test('PATCH null clears placement and resources, and returns prepull to the cluster\'s', async () => {
    const patched = await call('PATCH', '/services/web', { placement: null, resources: null, prepull: null });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.placement, {});
    assert.deepEqual(patched.body.resources, {});
    assert.equal(patched.body.prepull, true);
  });

  test('a global service shows its tasks wanted running as replicas; replicas and another mode are refused', async () => {
    const created = await call('POST', '/services', { name: 'agent', image: 'i:1', mode: 'global' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.mode, 'global');
    assert.equal(created.body.replicas, 0);
    apply({ type: 'task.create', id: 'agent-n1', serviceName: 'agent', slot: 1, specVersion: 1, nodeId: 'n1', at: AT });
    apply({ type: 'task.create', id: 'agent-n2', serviceName: 'agent', slot: 2, specVersion: 1, nodeId: 'n2', at: AT });
    assert.equal((await call('GET', '/services/agent')).body.replicas, 2);
    assert.equal((await call('GET', '/services')).body.services.find((x: any) => x.name === 'agent').replicas, 2);
    assert.equal((await call('GET', '/state')).body.services.find((x: any) => x.name === 'agent').replicas, 2);
    const scaled = await call('PATCH', '/services/agent', { replicas: 3 });
    assert.equal(scaled.status, 400);
    assert.match(scaled.body.error.message, /^replicas: service agent is global/);
    const moded = await call('PATCH', '/services/plain', { mode: 'global' });
    assert.equal(moded.status, 400);
    assert.match(moded.body.error.message, /^mode: service plain is replicated; a service's mode cannot change/);
  });
});

describe('node labels, facts and capacity', () => {
  test('PATCH /nodes/:id replaces labels whole, or merges labelAdd and labelRm into them', async () => {
    let node = await call('PATCH', '/nodes/host-a', { labels: { zone: 'a', rack: '1' } });
    assert.equal(node.status, 200, JSON.stringify(node.body));
    assert.deepEqual(node.body.labels, { zone: 'a', rack: '1' });
    node = await call('PATCH', '/nodes/host-a', { labelAdd: { disk: 'ssd' }, labelRm: ['rack'] });
    assert.deepEqual(node.body.labels, { zone: 'a', disk: 'ssd' });
    const last = proposed.at(-1) as Extract<Command, { type: 'node.set-labels' }>;
    assert.equal(last.type, 'node.set-labels');
    assert.deepEqual(last.labels, { zone: 'a', disk: 'ssd' }, 'merged here, set whole');
    node = await call('PATCH', '/nodes/host-a', { availability: 'drain', labelAdd: { zone: 'b' } });
    assert.equal(node.body.availability, 'drain');
    assert.deepEqual(node.body.labels, { zone: 'b', disk: 'ssd' });
    assert.equal(proposed.at(-1)!.type, 'batch', 'both changes in one command');
    await call('PATCH', '/nodes/host-a', { availability: 'active' });
    const listed = (await call('GET', '/nodes')).body.nodes.find((n: any) => n.name === 'host-a');
    assert.deepEqual(listed.labels, { zone: 'b', disk: 'ssd' });
  });

  test('a reserved label key is refused naming it', async () => {
    const refused = await call('PATCH', '/nodes/host-a', { labelAdd: { 'io.bicycle.x': '1' } });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /^labelAdd\.io\.bicycle\.x: label keys starting with io\.bicycle\. are reserved/);
  });

  test('a node shows its facts, what its live tasks reserve and what is free; without facts, free is null', async () => {
    apply({ type: 'node.set-facts', nodeId: 'n1', facts: { cpus: 4, memoryBytes: 8 * GiB, os: 'linux', arch: 'x86_64', engineVersion: '27.1.0' }, at: AT });
    apply({ type: 'service.create', id: 'r1', name: 'big', spec: { image: 'i:1', command: null, env: {}, labels: {}, ports: [], resources: { reservations: { cpus: 0.1, memoryBytes: GiB } } }, replicas: 3, maxReplicas: 100, at: AT });
    for (const slot of [1, 2, 3]) {
      apply({ type: 'task.create', id: `big-${slot}`, serviceName: 'big', slot, specVersion: 1, at: AT });
      apply({ type: 'task.assign', taskId: `big-${slot}`, nodeId: slot === 3 ? 'n2' : 'n1', at: AT });
    }
    // An ended task reserves nothing.
    apply({ type: 'task.observe', taskId: 'big-2', state: 'FAILED', error: 'boom', at: AT });
    const nodes = (await call('GET', '/nodes')).body.nodes;
    const a = nodes.find((n: any) => n.name === 'host-a');
    const b = nodes.find((n: any) => n.name === 'host-b');
    assert.deepEqual(a.facts, { cpus: 4, memoryBytes: 8 * GiB, os: 'linux', arch: 'x86_64', engineVersion: '27.1.0' });
    assert.deepEqual(a.reserved, { cpus: 0.1, memoryBytes: GiB });
    assert.deepEqual(a.free, { cpus: 3.9, memoryBytes: 7 * GiB });
    assert.equal(b.facts, null);
    assert.deepEqual(b.reserved, { cpus: 0.1, memoryBytes: GiB });
    assert.equal(b.free, null);
    assert.deepEqual((await call('GET', '/nodes/host-a')).body.reserved, a.reserved);
  });

  test('/state shows this node\'s pre-pull status, and null for the others (it is known only on each node)', async () => {
    writePrepullStatus(writer, [{ service: 'web', image: 'i:1', state: 'done', error: null }]);
    const state = (await call('GET', '/state')).body;
    const a = state.nodes.find((n: any) => n.name === 'host-a');
    const b = state.nodes.find((n: any) => n.name === 'host-b');
    assert.deepEqual(a.prepull, [{ service: 'web', image: 'i:1', state: 'done', error: null }]);
    assert.equal(b.prepull, null);
    assert.deepEqual(a.labels, { zone: 'b', disk: 'ssd' });
    assert.ok(a.free);
  });
});
