import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PortSpec } from '../../../database/commands';
import { attemptOrder, planTraffic, readinessKey, type PortPlan, type TrafficInput } from '../../../daemon/traffic/plan';
import { nodeRecord, taskRecord } from '../../helpers/records';

const ingress = (published: number, target: number, extra: Partial<PortSpec> = {}): PortSpec => ({ published, target, protocol: 'tcp', mode: 'ingress', proxy: 'none', ...extra });

/** Three nodes at 10.0.0.1-3; web has a replica on each; n1 is this node, its container at 172.17.0.2. */
function input(overrides: Partial<TrafficInput> = {}): TrafficInput {
  return {
    selfId: 'n1',
    services: [{ name: 'web', state: 'RUNNING', ports: [ingress(8080, 80)] }],
    tasks: ['n1', 'n2', 'n3'].map((node, i) => taskRecord('web', i + 1, { id: `t${i + 1}`, nodeId: node, state: 'RUNNING' })),
    nodes: ['n1', 'n2', 'n3'].map((id, i) => nodeRecord(id, { address: `10.0.0.${i + 1}:7070` })),
    localContainers: new Map([['t1', { containerId: 'c1', ip: '172.17.0.2' }]]),
    ready: new Set([readinessKey('c1', 80)]),
    unreachable: new Set(),
    ...overrides,
  };
}

describe('planTraffic', () => {
  test('an ingress port is held on every node: the local replica by its container address, the others by their node on the published port', () => {
    const plan = planTraffic(input());
    assert.equal(plan.ports.length, 1);
    const port = plan.ports[0]!;
    assert.deepEqual(port.local.map((b) => `${b.host}:${b.port}`), ['172.17.0.2:80']);
    assert.deepEqual(port.remote.map((b) => `${b.host}:${b.port}`), ['10.0.0.2:8080', '10.0.0.3:8080']);
    assert.equal(port.kernel, true);
    assert.deepEqual(plan.peerAddresses, ['10.0.0.2', '10.0.0.3']);
    assert.deepEqual(plan.watchedPeers.map((p) => p.nodeId), ['n2', 'n3']);
  });

  test('a node with no replica still holds an ingress port and forwards everything', () => {
    const plan = planTraffic(input({ selfId: 'n4', nodes: [...input().nodes, nodeRecord('n4', { address: '10.0.0.4:7070' })], localContainers: new Map(), ready: new Set() }));
    assert.equal(plan.ports[0]!.local.length, 0);
    assert.equal(plan.ports[0]!.remote.length, 3);
  });

  test('a host-mode port is held only where a replica runs, and never forwards', () => {
    const services = [{ name: 'web', state: 'RUNNING' as const, ports: [ingress(8080, 80, { mode: 'host' })] }];
    const here = planTraffic(input({ services }));
    assert.deepEqual(here.ports[0]!.remote, []);
    assert.equal(here.ports[0]!.local.length, 1);
    const tasks = input().tasks.filter((t) => t.nodeId !== 'n1');
    assert.deepEqual(planTraffic(input({ services, tasks, localContainers: new Map() })).ports, []);
  });

  test('only running replicas that are wanted running receive connections: one leaving (desired SHUTDOWN) is out at once', () => {
    const tasks = input().tasks.map((t) => (t.id === 't2' ? { ...t, desiredState: 'SHUTDOWN' as const } : t.id === 't3' ? { ...t, state: 'STARTING' as const } : t));
    const port = planTraffic(input({ tasks })).ports[0]!;
    assert.deepEqual(port.remote, []);
  });

  test('a replica with a health check receives connections only while healthy', () => {
    const health = { t1: 'starting', t2: 'unhealthy', t3: 'healthy' } as const;
    const tasks = input().tasks.map((t) => ({ ...t, health: health[t.id as keyof typeof health] }));
    const port = planTraffic(input({ tasks })).ports[0]!;
    assert.deepEqual(port.local, [], 'starting');
    assert.deepEqual(port.remote.map((b) => b.host), ['10.0.0.3'], 'only the healthy one');
  });

  test('a local replica joins only once it accepted a connection; until then it is probed', () => {
    const plan = planTraffic(input({ ready: new Set() }));
    assert.deepEqual(plan.ports[0]!.local, []);
    assert.deepEqual(plan.probes, [{ key: 'c1:80', host: '172.17.0.2', port: 80 }]);
  });

  test('replicas on a DOWN node or a node this one cannot reach get no new connections', () => {
    const nodes = input().nodes.map((n) => (n.id === 'n2' ? { ...n, status: 'DOWN' as const } : n));
    const port = planTraffic(input({ nodes, unreachable: new Set(['n3']) })).ports[0]!;
    assert.deepEqual(port.remote, []);
  });

  test('a deleted service and a service without ports hold nothing; a PROXY-protocol port keeps the kernel off', () => {
    assert.deepEqual(planTraffic(input({ services: [{ name: 'web', state: 'DELETE', ports: [ingress(8080, 80)] }] })).ports, []);
    assert.deepEqual(planTraffic(input({ services: [{ name: 'web', state: 'RUNNING', ports: [] }] })).ports, []);
    assert.deepEqual(planTraffic(input({ services: [{ name: 'web', state: 'RUNNING', ports: [] }] })).peerAddresses, []);
    const proxied = planTraffic(input({ services: [{ name: 'web', state: 'RUNNING', ports: [ingress(8080, 80, { proxy: 'v2' })] }] }));
    assert.equal(proxied.ports[0]!.kernel, false);
  });
});

describe('attemptOrder', () => {
  const port = (local: number, remote: number, kernel = true): PortPlan => ({
    published: 8080, service: 'web', target: 80, mode: 'ingress', proxy: 'none', kernel,
    local: Array.from({ length: local }, (_, i) => ({ taskId: `l${i}`, nodeId: 'n1', host: `172.17.0.${i + 2}`, port: 80 })),
    remote: Array.from({ length: remote }, (_, i) => ({ taskId: `r${i}`, nodeId: `n${i + 2}`, host: `10.0.0.${i + 2}`, port: 8080 })),
  });
  const seeded = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

  test('a forwarded connection goes to local replicas only (never on again)', () => {
    assert.deepEqual(attemptOrder(port(1, 2), 'peer', seeded(1)).map((b) => b.taskId), ['l0']);
    assert.deepEqual(attemptOrder(port(0, 2), 'peer', seeded(1)), []);
  });

  test('the remote share the kernel left tries remote replicas first, then local ones', () => {
    const order = attemptOrder(port(1, 2), 'kernel-share', seeded(7)).map((b) => b.taskId);
    assert.deepEqual(order.slice(2), ['l0']);
    assert.deepEqual(new Set(order.slice(0, 2)), new Set(['r0', 'r1']));
  });

  test('without the kernel every replica is equally likely first', () => {
    const random = seeded(42);
    const first = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const id = attemptOrder(port(1, 2, false), 'kernel-share', random)[0]!.taskId;
      first.set(id, (first.get(id) ?? 0) + 1);
    }
    for (const id of ['l0', 'r0', 'r1']) assert.ok(Math.abs(first.get(id)! - 1000) < 150, `${id}: ${first.get(id)}`);
  });

  test('two replicas on one node are one place to retry', () => {
    const p = port(0, 2);
    p.remote[1] = { ...p.remote[1]!, host: '10.0.0.2' };
    assert.equal(attemptOrder(p, 'other', seeded(3)).length, 1);
  });
});
