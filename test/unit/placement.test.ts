import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { schedule, schedulerInput } from '../../daemon/deployment/scheduler';
import { binpackScore, epvmScore, spreadScore, type NodeLoad } from '../../daemon/deployment/strategies';
import { parseConstraint, satisfies, type NodeFacts, type PlacementSpec, type ResourceSpec, type Strategy } from '../../database/placement';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../database/queries';
import { AT, nodeRecord, serviceRecord, taskRecord } from '../helpers/records';

const SEED = Number(process.env.FC_SEED ?? 515151);
const GiB = 2 ** 30;
const FACTS: NodeFacts = { cpus: 2, memoryBytes: 4 * GiB, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24' };

function node(name: string, labels: Record<string, string> = {}, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return nodeRecord(`id-${name}`, { name, labels, facts: FACTS, ...overrides });
}

function svc(name: string, placement: PlacementSpec = {}, resources: ResourceSpec = {}, replicas = 3): ServiceRecord {
  return serviceRecord(name, { placement, resources, replicas });
}

/** Places `replicas` new tasks of each service (and whatever `existing` already holds); returns node name per task and the unplaced reasons. */
function place(services: ServiceRecord[], nodes: NodeRecord[], existing: TaskRecord[] = [], options: { strategy?: Strategy; cursors?: Map<string, string> } = {}) {
  const pending = services.flatMap((s) => Array.from({ length: s.replicas }, (_, i) => taskRecord(s.name, i + 1, { id: `${s.name}-${i + 1}` })));
  const result = schedule(schedulerInput([...existing, ...pending]), nodes, AT, { services: new Map(services.map((s) => [s.name, s])), ...options });
  const names = new Map(nodes.map((n) => [n.id, n.name]));
  const where = new Map<string, string>();
  for (const c of result.commands) if (c.type === 'task.assign') where.set(c.taskId, names.get(c.nodeId)!);
  return { where, unplaced: result.unplaced };
}

function countBy<T>(items: Iterable<T>): Map<T, number> {
  const m = new Map<T, number>();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

describe('constraints', () => {
  test('parsing: ==, !=, the keys Swarm knows; anything else is refused naming the syntax', () => {
    assert.deepEqual(parseConstraint('node.labels.zone == a'), { text: 'node.labels.zone == a', key: 'node.labels.zone', op: '==', value: 'a' });
    assert.deepEqual(parseConstraint('node.role!=manager'), { text: 'node.role!=manager', key: 'node.role', op: '!=', value: 'manager' });
    assert.match(parseConstraint('zone=a') as string, /not a constraint: use KEY==VALUE or KEY!=VALUE/);
    assert.match(parseConstraint('engine.labels.x==1') as string, /not a constraint/);
  });

  test('matching: labels exactly, names and roles without case; != holds when the label is absent', () => {
    const n = node('Host-2', { zone: 'a' }, { role: 'manager' });
    const c = (t: string) => satisfies(n, parseConstraint(t) as never);
    assert.equal(c('node.labels.zone==a'), true);
    assert.equal(c('node.labels.zone==A'), false);
    assert.equal(c('node.labels.disk!=ssd'), true);
    assert.equal(c('node.name==host-2'), true);
    assert.equal(c('node.role!=manager'), false);
    assert.equal(c('node.platform.arch==x86_64'), true);
  });

  test('replicas go only where every constraint holds; with nowhere to go they wait with the reason per filter and count', () => {
    const nodes = [node('a1', { zone: 'a' }), node('a2', { zone: 'a' }), node('b1', { zone: 'b' }, { availability: 'drain' })];
    const { where } = place([svc('web', { constraints: ['node.labels.zone==a'] }, {}, 4)], nodes);
    assert.deepEqual(countBy(where.values()), new Map([['a1', 2], ['a2', 2]]));
    const none = place([svc('db', { constraints: ['node.labels.zone==a', 'node.role==manager'] }, { reservations: { cpus: 1 } }, 1)], nodes);
    assert.deepEqual(none.where, new Map());
    assert.equal(none.unplaced[0]!.reason, 'no node fits: 2 fail node.role==manager, 1 is drained');
  });
});

describe('resources', () => {
  test('reservations count against each node\'s capacity: a node never gets more than it has', () => {
    const nodes = [node('n1'), node('n2')];
    const { where, unplaced } = place([svc('big', {}, { reservations: { cpus: 0.75, memoryBytes: GiB } }, 6)], nodes);
    assert.deepEqual(countBy(where.values()), new Map([['n1', 2], ['n2', 2]]), '2 CPUs each fit 2 × 0.75');
    assert.equal(unplaced.length, 2);
    assert.equal(unplaced[0]!.reason, 'no node fits: 2 lack 0.75 CPUs free');
  });

  test('what other services reserve is taken off; a reservation larger than any node stays pending with the reason', () => {
    const nodes = [node('n1'), node('n2')];
    const existing = [taskRecord('other', 1, { id: 'o1', nodeId: 'id-n1', state: 'RUNNING' })];
    const other = svc('other', {}, { reservations: { memoryBytes: 3.5 * GiB } }, 0);
    const { where } = place([other, svc('web', {}, { reservations: { memoryBytes: GiB } }, 2)], nodes, existing);
    assert.deepEqual([...where.values()], ['n2', 'n2']);
    const huge = place([svc('huge', {}, { reservations: { memoryBytes: 64 * GiB } }, 1)], nodes);
    assert.equal(huge.unplaced[0]!.reason, 'no node fits: 2 lack 64 GiB of memory free');
  });

  test('a node that has not reported its resources takes no reserving replica', () => {
    const nodes = [node('n1', {}, { facts: null }), node('n2')];
    const { where, unplaced } = place([svc('web', {}, { reservations: { cpus: 0.1 } }, 1)], nodes);
    assert.deepEqual([...where.values()], ['n2']);
    assert.equal(unplaced.length, 0);
  });

  test('maxReplicasPerNode is a hard limit', () => {
    const nodes = [node('n1'), node('n2')];
    const { where, unplaced } = place([svc('web', { maxReplicasPerNode: 1 }, {}, 3)], nodes);
    assert.equal(where.size, 2);
    assert.equal(unplaced[0]!.reason, 'no node fits: 2 run 1 replica of web already (maxReplicasPerNode 1)');
  });
});

describe('spread preferences', () => {
  const zones = () => [node('host-1', { zone: 'a' }), node('host-2', { zone: 'a' }), node('host-3', { zone: 'b' })];

  test('9 replicas over zones a, a, b: 5/4 by zone (not 6/3 by node), ±1 per node within a zone', () => {
    const { where } = place([svc('web', { preferences: [{ spread: 'node.labels.zone' }] }, {}, 9)], zones());
    const byNode = countBy(where.values());
    assert.equal(byNode.get('host-3'), 4, 'zone b gets its half');
    assert.deepEqual([byNode.get('host-1'), byNode.get('host-2')].sort(), [2, 3]);
  });

  test('strict where feasible: a full domain gives way to the next; maxPerValue caps a value', () => {
    const nodes = zones();
    const full = place([svc('web', { preferences: [{ spread: 'node.labels.zone' }], maxReplicasPerNode: 1 }, {}, 3)], nodes);
    assert.deepEqual(countBy(full.where.values()), new Map([['host-1', 1], ['host-2', 1], ['host-3', 1]]));
    const capped = place([svc('web', { preferences: [{ spread: 'node.labels.zone' }], maxPerValue: 2 }, {}, 5)], nodes);
    assert.equal(capped.where.size, 4);
    assert.match(capped.unplaced[0]!.reason, /every value of node.labels.zone has 2 \(maxPerValue\)/);
  });

  test('a hierarchy: spread over regions first, then racks within each', () => {
    const nodes = [
      node('r1a', { region: 'eu', rack: '1' }), node('r1b', { region: 'eu', rack: '2' }),
      node('r2a', { region: 'us', rack: '1' }), node('r2b', { region: 'us', rack: '1' }),
    ];
    const { where } = place([svc('web', { preferences: [{ spread: 'node.labels.region' }, { spread: 'node.labels.rack' }] }, {}, 4)], nodes);
    const byNode = countBy(where.values());
    assert.deepEqual([byNode.get('r1a'), byNode.get('r1b')], [1, 1], 'eu: one per rack');
    assert.equal((byNode.get('r2a') ?? 0) + (byNode.get('r2b') ?? 0), 2);
  });
});

describe('strategies', () => {
  const nodes = () => [node('n1'), node('n2'), node('n3')];

  test('binpack fills the fullest node that fits first', () => {
    const { where } = place([svc('web', { strategy: 'binpack' }, { reservations: { cpus: 0.5 } }, 6)], nodes());
    assert.deepEqual(countBy(where.values()), new Map([['n1', 4], ['n2', 2]]));
  });

  test('round-robin walks the nodes in turn and goes on where the last pass stopped', () => {
    const cursors = new Map<string, string>();
    const first = place([svc('web', { strategy: 'round-robin' }, {}, 2)], nodes(), [], { cursors });
    assert.deepEqual([...first.where.values()], ['n1', 'n2']);
    const pending = [taskRecord('web', 3, { id: 'web-3' })];
    const next = schedule(schedulerInput(pending), nodes(), AT, { services: new Map([['web', svc('web', { strategy: 'round-robin' })]]), cursors });
    assert.deepEqual(next.commands.map((c) => (c as { nodeId: string }).nodeId), ['id-n3']);
  });

  test('epvm places where the marginal cost in CPU and memory is lowest', () => {
    const big = svc('big', {}, { reservations: { cpus: 1.5 } }, 0);
    const existing = [taskRecord('big', 1, { id: 'b1', nodeId: 'id-n1', state: 'RUNNING' })];
    const { where } = place([big, svc('web', { strategy: 'epvm' }, { reservations: { cpus: 0.25, memoryBytes: 256 * 2 ** 20 } }, 4)], nodes(), existing);
    assert.equal(countBy(where.values()).get('n1') ?? 0, 0, 'the loaded node is the most expensive');
  });

  test('the cluster default strategy applies to services that name none', () => {
    const { where } = place([svc('web', {}, {}, 3)], nodes(), [], { strategy: 'binpack' });
    assert.deepEqual(countBy(where.values()), new Map([['n1', 3]]));
  });

  test('the scores, by their formulas', () => {
    const load = (o: Partial<NodeLoad>): NodeLoad => ({ serviceTasks: 0, tasks: 0, cpus: 0, memoryBytes: 0, cpuCapacity: 2, memoryCapacity: 4 * GiB, ...o });
    const d = { cpus: 0.5, memoryBytes: 0 };
    assert.ok(spreadScore(load({ serviceTasks: 1 }), d) > spreadScore(load({ tasks: 50 }), d), 'spread: tasks of this service first');
    assert.ok(binpackScore(load({ cpus: 1 }), d) < binpackScore(load({ cpus: 0 }), d), 'binpack: fuller first');
    const epvm = epvmScore(3);
    assert.ok(epvm(load({ cpus: 1.5 }), d) > epvm(load({ cpus: 0 }), d), 'epvm: a loaded node costs more');
  });
});

describe('placement properties (fast-check)', () => {
  test('never over capacity, never against a constraint, per-zone skew ≤ 1 when feasible, through random clusters and services', () => {
    const nodeArb = fc.record({ zone: fc.constantFrom('a', 'b', 'c'), cpus: fc.constantFrom(1, 2, 4), drained: fc.boolean() });
    const svcArb = fc.record({
      replicas: fc.integer({ min: 0, max: 12 }),
      cpus: fc.constantFrom(0, 0.25, 0.5, 1),
      constraint: fc.constantFrom(null, 'node.labels.zone==a', 'node.labels.zone!=c'),
      spread: fc.boolean(),
      strategy: fc.constantFrom<Strategy>('spread', 'binpack', 'round-robin', 'epvm'),
      maxPerNode: fc.constantFrom(0, 1, 3),
    });
    fc.assert(
      fc.property(fc.array(nodeArb, { minLength: 1, maxLength: 7 }), fc.array(svcArb, { minLength: 1, maxLength: 4 }), (nodeSpecs, svcSpecs) => {
        const nodes = nodeSpecs.map((n, i) => node(`n${i}`, { zone: n.zone }, { facts: { ...FACTS, cpus: n.cpus }, availability: n.drained ? 'drain' : 'active' }));
        const services = svcSpecs.map((s, i) =>
          svc(`s${i}`, {
            constraints: s.constraint ? [s.constraint] : [], preferences: s.spread ? [{ spread: 'node.labels.zone' }] : [],
            strategy: s.strategy, maxReplicasPerNode: s.maxPerNode,
          }, { reservations: { cpus: s.cpus } }, s.replicas),
        );
        const { where } = place(services, nodes);
        const byName = new Map(nodes.map((n) => [n.name, n]));
        const cpuUsed = new Map<string, number>();
        for (const [taskId, nodeName] of where) {
          const s = services.find((x) => taskId.startsWith(`${x.name}-`))!;
          const n = byName.get(nodeName)!;
          assert.equal(n.availability, 'active', 'never on a drained node');
          for (const c of s.placement.constraints ?? []) assert.ok(satisfies(n, parseConstraint(c) as never), `${taskId} on ${nodeName} breaks ${c}`);
          cpuUsed.set(nodeName, (cpuUsed.get(nodeName) ?? 0) + (s.resources.reservations?.cpus ?? 0));
        }
        for (const [name, used] of cpuUsed) assert.ok(used <= byName.get(name)!.facts!.cpus + 1e-9, `${name} over capacity: ${used}`);
        // Spread by zone, where nothing else limits it: unconstrained, unreserved, no per-node cap, every replica placed.
        for (const s of services) {
          if (!s.placement.preferences?.length || s.placement.constraints?.length || s.resources.reservations?.cpus || s.placement.maxReplicasPerNode) continue;
          const placedHere = [...where.entries()].filter(([id]) => id.startsWith(`${s.name}-`));
          if (placedHere.length !== s.replicas) continue;
          const zonesUsable = new Set(nodes.filter((n) => n.availability === 'active').map((n) => n.labels.zone));
          const perZone = countBy(placedHere.map(([, n]) => byName.get(n)!.labels.zone!));
          const counts = [...zonesUsable].map((z) => perZone.get(z!) ?? 0);
          assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${s.name}: zones ${JSON.stringify(Object.fromEntries(perZone))}`);
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('binpack against first-fit-decreasing', () => {
  /** Nodes first-fit-decreasing needs for these CPU sizes on nodes of `capacity` CPUs: the offline yardstick of bin packing. */
  function firstFitDecreasing(sizes: number[], capacity: number): number {
    const bins: number[] = [];
    for (const size of [...sizes].sort((a, b) => b - a)) {
      const i = bins.findIndex((used) => used + size <= capacity + 1e-9);
      if (i === -1) bins.push(size);
      else bins[i]! += size;
    }
    return bins.length;
  }

  test('services of mixed sizes placed in arrival order use at most a quarter more nodes than first-fit-decreasing, and never more than spread', () => {
    const svcArb = fc.record({ replicas: fc.integer({ min: 1, max: 8 }), cpus: fc.constantFrom(0.25, 0.5, 0.75, 1, 1.25, 1.5) });
    fc.assert(
      fc.property(fc.array(svcArb, { minLength: 1, maxLength: 6 }), (specs) => {
        const nodes = Array.from({ length: 40 }, (_, i) => node(`n${String(i).padStart(2, '0')}`));
        const used = (strategy: Strategy) => {
          const services = specs.map((s, i) => svc(`s${i}`, { strategy }, { reservations: { cpus: s.cpus } }, s.replicas));
          const { where, unplaced } = place(services, nodes);
          assert.equal(unplaced.length, 0, 'forty nodes hold every replica');
          return new Set(where.values()).size;
        };
        const sizes = specs.flatMap((s) => Array.from({ length: s.replicas }, () => s.cpus));
        const ffd = firstFitDecreasing(sizes, FACTS.cpus);
        const binpack = used('binpack');
        assert.ok(binpack <= Math.ceil(ffd * 1.25), `binpack used ${binpack} nodes, first-fit-decreasing ${ffd}, for ${JSON.stringify(specs)}`);
        assert.ok(binpack <= used('spread'), 'binpack never uses more nodes than spread');
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});
