import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { schedule, schedulerInput } from '../../daemon/deployment/scheduler';
import type { NodeRecord, TaskRecord } from '../../database/queries';
import { AT, nodeRecord, taskRecord } from '../helpers/records';
import { isSchedulable, type NodeAvailability, type NodeStatus } from '../../database/node-state';

/** Fixed so that runs are repeatable; set FC_SEED to replay a failure fast-check reports. */
const SEED = Number(process.env.FC_SEED ?? 424242);

function node(name: string, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return nodeRecord(`id-${name}`, { name, address: `${name}:7070`, ...overrides });
}

/** An unplaced task (NEW, wanted RUNNING) unless told otherwise. */
function task(serviceName: string, slot: number, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return taskRecord(serviceName, slot, overrides);
}

function tasksOf(serviceName: string, replicas: number): TaskRecord[] {
  return Array.from({ length: replicas }, (_, i) => task(serviceName, i + 1));
}

/** Where each task was placed: task id → node id. */
function placements(tasks: readonly TaskRecord[], nodes: readonly NodeRecord[]): Map<string, string> {
  const result = schedule(schedulerInput(tasks), nodes, AT);
  const map = new Map<string, string>();
  for (const c of result.commands) {
    assert.equal(c.type, 'task.assign');
    if (c.type === 'task.assign') {
      assert.equal(c.at, AT);
      map.set(c.taskId, c.nodeId);
    }
  }
  return map;
}

/** Tasks per node (every node listed, zeros included) for one service, after placement. */
function countsPerNode(serviceName: string, tasks: readonly TaskRecord[], placed: Map<string, string>, nodes: readonly NodeRecord[]): Map<string, number> {
  const counts = new Map(nodes.map((n) => [n.id, 0]));
  for (const t of tasks) {
    if (t.serviceName !== serviceName) continue;
    const nodeId = placed.get(t.id) ?? t.nodeId;
    if (nodeId !== null && counts.has(nodeId)) counts.set(nodeId, counts.get(nodeId)! + 1);
  }
  return counts;
}

function spread(counts: Map<string, number>): number {
  const values = [...counts.values()];
  return values.length === 0 ? 0 : Math.max(...values) - Math.min(...values);
}

describe('scheduler: spreading', () => {
  test('every unplaced task is assigned, and one service is spread evenly over the nodes', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const tasks = tasksOf('web', 7);
    const placed = placements(tasks, nodes);
    assert.equal(placed.size, 7);
    const counts = countsPerNode('web', tasks, placed, nodes);
    assert.deepEqual([...counts.values()].sort(), [2, 2, 3]);
  });

  test('placement is deterministic: ties go to the node whose name sorts first, slots in order', () => {
    const nodes = [node('c'), node('a'), node('b')];
    const placed = placements(tasksOf('web', 4), nodes);
    assert.deepEqual([...placed.entries()], [
      ['web-1', 'id-a'],
      ['web-2', 'id-b'],
      ['web-3', 'id-c'],
      ['web-4', 'id-a'],
    ]);
  });

  test('tasks already running count: new tasks go to the nodes with fewest tasks of their service', () => {
    const nodes = [node('a'), node('b')];
    const tasks = [
      task('web', 1, { nodeId: 'id-a', state: 'RUNNING' }),
      task('web', 2, { nodeId: 'id-a', state: 'RUNNING' }),
      task('web', 3),
      task('web', 4),
    ];
    const placed = placements(tasks, nodes);
    assert.deepEqual([...placed.values()], ['id-b', 'id-b']);
  });

  test('between nodes with equal counts of the service, the node with fewest tasks in all wins', () => {
    const nodes = [node('a'), node('b')];
    const tasks = [
      task('db', 1, { nodeId: 'id-a', state: 'RUNNING' }),
      task('db', 2, { nodeId: 'id-a', state: 'RUNNING' }),
      task('db', 3, { nodeId: 'id-b', state: 'RUNNING' }),
      task('db', 4, { nodeId: 'id-b', state: 'RUNNING' }),
      task('cache', 1, { nodeId: 'id-a', state: 'RUNNING' }),
      task('web', 1),
    ];
    assert.deepEqual([...placements(tasks, nodes).entries()], [['web-1', 'id-b']]);
  });

  test('the even spread per service wins over the total: a busy node still gets its share of a new service', () => {
    const nodes = [node('a'), node('b')];
    const busy = Array.from({ length: 10 }, (_, i) => task('db', i + 1, { nodeId: 'id-a', state: 'RUNNING' }));
    const tasks = [...busy, ...tasksOf('web', 2)];
    const placed = placements(tasks, nodes);
    assert.deepEqual([...placed.values()].sort(), ['id-a', 'id-b']);
  });

  test('dead tasks and tasks being shut down do not count against a node', () => {
    const nodes = [node('a'), node('b')];
    const tasks = [
      task('web', 1, { nodeId: 'id-a', state: 'FAILED' }),
      task('web', 2, { nodeId: 'id-a', state: 'RUNNING', desiredState: 'SHUTDOWN' }),
      task('web', 3, { nodeId: 'id-b', state: 'RUNNING' }),
      task('web', 4),
    ];
    assert.deepEqual([...placements(tasks, nodes).entries()], [['web-4', 'id-a']]);
  });

  test('only NEW tasks wanted RUNNING and on no node are placed', () => {
    const nodes = [node('a')];
    const tasks = [
      task('web', 1, { desiredState: 'SHUTDOWN' }),
      task('web', 2, { nodeId: 'id-a', state: 'ASSIGNED' }),
      task('web', 3, { state: 'FAILED' }),
    ];
    const result = schedule(schedulerInput(tasks), nodes, AT);
    assert.deepEqual(result, { commands: [], unplaced: [] });
  });
});

describe('scheduler: unavailable nodes', () => {
  test('DOWN, UNKNOWN, drained and paused nodes get no tasks', () => {
    const nodes = [
      node('a', { status: 'DOWN' }),
      node('b', { availability: 'drain' }),
      node('c', { availability: 'pause' }),
      node('d', { status: 'UNKNOWN' }),
      node('e'),
    ];
    const placed = placements(tasksOf('web', 5), nodes);
    assert.deepEqual(new Set(placed.values()), new Set(['id-e']));
    assert.equal(placed.size, 5);
  });

  test('with no schedulable node, nothing is placed and each task says why, naming each node and its problem', () => {
    const nodes = [node('a', { status: 'DOWN' }), node('b', { availability: 'drain' }), node('c', { availability: 'pause' })];
    const result = schedule(schedulerInput(tasksOf('web', 2)), nodes, AT);
    assert.deepEqual(result.commands, []);
    assert.deepEqual(result.unplaced.map((u) => u.taskId), ['web-1', 'web-2']);
    const reason = result.unplaced[0]!.reason;
    assert.match(reason, /no node can take it/);
    assert.match(reason, /a: status DOWN/);
    assert.match(reason, /b: availability drain/);
    assert.match(reason, /c: availability pause/);
  });

  test('with no nodes at all, the reason says the cluster has no nodes', () => {
    const result = schedule(schedulerInput(tasksOf('web', 1)), [], AT);
    assert.deepEqual(result.unplaced, [{ taskId: 'web-1', reason: 'no nodes in the cluster' }]);
  });

  test('nothing to place gives no commands and no complaints, even without nodes', () => {
    assert.deepEqual(schedule(schedulerInput([]), [], AT), { commands: [], unplaced: [] });
  });
});

describe('scheduler: properties', () => {
  test('property: for 1-20 nodes and 0-200 replicas per service, any two nodes hold counts of a service that differ by at most one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 3 }),
        (nodeCount, replicaCounts) => {
          const nodes = Array.from({ length: nodeCount }, (_, i) => node(`n${String(i).padStart(2, '0')}`));
          const tasks = replicaCounts.flatMap((replicas, s) => tasksOf(`svc${s}`, replicas));
          const placed = placements(tasks, nodes);
          assert.equal(placed.size, tasks.length, 'every task is placed');
          for (let s = 0; s < replicaCounts.length; s++) {
            const counts = countsPerNode(`svc${s}`, tasks, placed, nodes);
            assert.ok(spread(counts) <= 1, `svc${s}: ${JSON.stringify([...counts.values()])}`);
          }
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  test('property: with a mix of unavailable nodes, tasks land only on READY+active nodes, evenly spread among them', () => {
    const statuses: NodeStatus[] = ['READY', 'DOWN', 'UNKNOWN'];
    const availabilities: NodeAvailability[] = ['active', 'drain', 'pause'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ status: fc.constantFrom(...statuses), availability: fc.constantFrom(...availabilities) }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 200 }),
        (shapes, replicas) => {
          const nodes = shapes.map((shape, i) => node(`n${String(i).padStart(2, '0')}`, shape));
          const usable = nodes.filter(isSchedulable);
          const tasks = tasksOf('web', replicas);
          const result = schedule(schedulerInput(tasks), nodes, AT);
          if (usable.length === 0) {
            assert.equal(result.commands.length, 0);
            assert.equal(result.unplaced.length, replicas);
            return;
          }
          const placed = placements(tasks, nodes);
          assert.equal(placed.size, replicas);
          const usableIds = new Set(usable.map((n) => n.id));
          for (const nodeId of placed.values()) assert.ok(usableIds.has(nodeId), `${nodeId} is not schedulable`);
          assert.ok(spread(countsPerNode('web', tasks, placed, usable)) <= 1);
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });
});
