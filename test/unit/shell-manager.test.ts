import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Db } from '../../database/open-database';
import { listNodes, listTasks, setLocal } from '../../database/queries';
import { Manager } from '../../daemon/deployment/manager';
import { presentTask } from '../../modules/present';
import { taskTable } from '../../cli/commands/service-ps';
import type { Task } from '../../cli/types';
import type { Command } from '../../database/commands';
import { AT, apply, applyingPropose, clusterDb, flatten, quiet, simpleSpec } from '../helpers/shell-db';

/**
 * The leader's shell (orchestrator then scheduler in one pass) over a real
 * database in a temp dir: what one pass proposes, applied as the leader
 * would, and then what `bicycle service ps` prints of it.
 */
const NODES = [{ id: 'n1', name: 'host-1' }, { id: 'n2', name: 'host-2' }, { id: 'n3', name: 'host-3' }];
let opened: { db: Db; close(): void } | undefined;
afterEach(() => {
  opened?.close();
  opened = undefined;
});

function setUp(leader: string | null = 'n1') {
  opened = clusterDb(NODES, 'n1');
  const { db } = opened;
  if (leader) setLocal(db, 'leader_id', leader);
  let clock = AT + 60_000;
  const now = () => (clock += 1000);
  const { propose, proposed } = applyingPropose(db);
  const manager = new Manager({ db, nodeId: 'n1', propose, log: quiet, updateParallelism: 1, autoRebalance: false, now });
  return { db, manager, proposed, now: () => clock };
}

/**
 * `bicycle service ps --no-trunc NAME`'s table as it would print at `nowMs`
 * (the tasks as GET /services/:name/tasks presents them), each line cut
 * into its columns where the header's start.
 */
function servicePs(db: Db, name: string, nowMs: number): string[][] {
  const names = new Map(listNodes(db).map((n) => [n.id, n.name]));
  const tasks = listTasks(db, { serviceName: name }).map((t) => presentTask(t, names)) as Task[];
  const [header, ...lines] = taskTable({ name, tasks }, nowMs, true).trimEnd().split('\n');
  const starts = [...header!.matchAll(/\S+(?: \S+)*/g)].map((m) => m.index!);
  const cut = (line: string) => starts.map((start, i) => line.slice(start, starts[i + 1]).trim());
  return [cut(header!), ...lines.map(cut)];
}

describe('one pass of the manager', () => {
  test('places a new service\'s tasks on the READY, active nodes, evenly, in one proposal; service ps shows them ASSIGNED', async () => {
    const { db, manager, proposed, now } = setUp();
    apply(db, { type: 'node.set-status', nodeId: 'n3', status: 'DOWN', at: AT });
    apply(db, { type: 'service.create', id: 'svc-web', name: 'web', spec: simpleSpec('web:1'), replicas: 4, at: AT });
    await manager.pass();

    assert.equal(proposed.length, 1, 'one proposal');
    const commands = flatten(proposed);
    // Each new replica is created on its node: one command, not a create and an assign.
    assert.deepEqual(commands.map((c) => c.type).sort(), ['service.set-state', ...Array(4).fill('task.create')]);
    assert.ok(commands.every((c) => c.type !== 'task.create' || c.nodeId !== undefined), 'every task.create names its node');
    const deploying = commands.find((c) => c.type === 'service.set-state') as Extract<Command, { type: 'service.set-state' }>;
    assert.deepEqual([deploying.name, deploying.state, deploying.version], ['web', 'DEPLOYING', 1]);

    const [header, ...rows] = servicePs(db, 'web', now());
    assert.deepEqual(header, ['ID', 'NAME', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'HEALTH', 'ERROR']);
    assert.deepEqual(rows.map((r) => r[1]), ['web.1', 'web.2', 'web.3', 'web.4']);
    for (const r of rows) {
      assert.equal(r[3], 'RUNNING');
      assert.match(r[4]!, /^ASSIGNED /);
    }
    const perNode = new Map<string, number>();
    for (const r of rows) perNode.set(r[2]!, (perNode.get(r[2]!) ?? 0) + 1);
    assert.deepEqual([...perNode].sort(), [['host-1', 2], ['host-2', 2]], 'host-3 is DOWN: none there');

    // Nothing changed: the next pass proposes nothing.
    await manager.pass();
    assert.equal(proposed.length, 1);
  });

  test('a drained node gets none; tasks that fit nowhere wait, and service ps says why', async () => {
    const { db, manager, now } = setUp();
    apply(db, { type: 'node.set-availability', nodeId: 'n2', availability: 'drain', at: AT });
    for (const nodeId of ['n1', 'n2', 'n3']) {
      apply(db, { type: 'node.set-facts', nodeId, facts: { cpus: 4, memoryBytes: 8 * 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '27.0.0' }, at: AT });
    }
    apply(db, { type: 'service.create', id: 'svc-big', name: 'big', spec: simpleSpec('big:1', { resources: { reservations: { memoryBytes: 64 * 2 ** 30 } } }), replicas: 1, at: AT });
    apply(db, { type: 'service.create', id: 'svc-web', name: 'web', spec: simpleSpec('web:1'), replicas: 3, at: AT });
    await manager.pass();

    const web = servicePs(db, 'web', now()).slice(1);
    assert.equal(web.length, 3);
    assert.equal(web.some((r) => r[2] === 'host-2'), false, 'host-2 is drained');
    const [big] = servicePs(db, 'big', now()).slice(1);
    assert.equal(big![2], '-', 'no node');
    assert.match(big![4]!, /^NEW /);
    assert.equal(big![6], 'no node fits: 2 lack 64 GiB of memory free, 1 is drained', 'the reason, per node');
  });

  test('a node that goes DOWN: its task is shut down and a replacement is placed on a READY node', async () => {
    const { db, manager, now } = setUp();
    apply(db, { type: 'service.create', id: 'svc-web', name: 'web', spec: simpleSpec('web:1'), replicas: 3, at: AT });
    await manager.pass();
    const onHost3 = listTasks(db, { serviceName: 'web' }).find((t) => t.nodeId === 'n3')!;
    apply(db, { type: 'node.set-status', nodeId: 'n3', status: 'DOWN', at: AT + 1 });
    await manager.pass();

    const rows = servicePs(db, 'web', now()).slice(1);
    const slot = rows.filter((r) => r[1]!.endsWith(`web.${onHost3.slot}`));
    assert.equal(slot.length, 2, `the slot shows the replacement and the old task: ${JSON.stringify(rows)}`);
    const [current, old] = slot;
    assert.notEqual(current![2], 'host-3');
    assert.equal(current![3], 'RUNNING');
    assert.match(current![4]!, /^ASSIGNED /);
    assert.equal(old![2], 'host-3');
    assert.equal(old![3], 'SHUTDOWN');
  });

  test('on a follower a pass does nothing', async () => {
    const { db, manager, proposed } = setUp('n2');
    apply(db, { type: 'service.create', id: 'svc-web', name: 'web', spec: simpleSpec('web:1'), replicas: 2, at: AT });
    await manager.pass();
    assert.deepEqual(proposed, []);
    assert.deepEqual(listTasks(db), []);
  });
});
