import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, type Db } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';
import { getService } from '../../database/queries';
import { decodeCursor, encodeCursor, listRoutableTasks } from '../../database/task-summary';
import { readService, readServiceSummaries, readState, readTaskPage, SERVICE_HISTORY_LIMIT, STATE_CONTAINERS_LIMIT } from '../../modules/present';

const spec = { image: 'i', command: null, env: {}, labels: {}, ports: [] };
const at = 1_700_000_000_000;

function apply(db: Db, command: Command): void {
  const result = applyCommand(db, command);
  if (!result.ok) throw new Error(`${command.type}: ${result.error.message}`);
}

/** A service of `replicas` running tasks on one node, each slot with `dead` failed tasks before it. */
function seed(db: Db, name: string, replicas: number, dead: number): void {
  apply(db, { type: 'service.create', id: name, name, spec, replicas, at });
  let n = 0;
  for (let slot = 1; slot <= replicas; slot++) {
    for (let d = 0; d <= dead; d++) {
      const id = `${name}-${slot}-${d}`;
      const t = at + n++;
      apply(db, { type: 'task.create', id, serviceName: name, slot, specVersion: 1, at: t });
      apply(db, { type: 'task.assign', taskId: id, nodeId: 'n1', at: t });
      if (d < dead) {
        apply(db, { type: 'task.observe', taskId: id, state: 'FAILED', error: `boom ${id}`, at: t });
        apply(db, { type: 'task.set-desired', taskId: id, desiredState: 'SHUTDOWN', at: t });
      } else {
        apply(db, { type: 'task.observe', taskId: id, state: 'RUNNING', containerId: `c-${id}`, startedAt: t, at: t });
      }
    }
  }
}

function cluster(): Db {
  const db = openDatabase(':memory:', { migrate: true });
  apply(db, { type: 'node.register', node: { id: 'n1', name: 'host-a', address: '127.0.0.1:7070', role: 'manager', startedAt: at }, at });
  return db;
}

test('GET /services summarises each service: counts by state, running, the latest error, no task rows', () => {
  const db = cluster();
  seed(db, 'web', 3, 2);
  apply(db, { type: 'service.create', id: 'idle', name: 'idle', spec, replicas: 0, at });
  const [idle, web] = readServiceSummaries(db);
  assert.equal(web!.name, 'web');
  assert.equal(web!.running, 3);
  assert.deepEqual(web!.taskCounts, { total: 9, byState: { RUNNING: 3, FAILED: 6 } });
  assert.equal(web!.error, 'boom web-3-1', 'the most recently updated task with an error');
  assert.equal('tasks' in web!, false);
  assert.deepEqual(idle!.taskCounts, { total: 0, byState: {} });
  assert.equal(idle!.error, null);
  db.close();
});

test('a page walk of a service\'s tasks sees every task exactly once, slot order and newest first, and ends with next null', () => {
  const db = cluster();
  seed(db, 'web', 7, 2);
  const seen: string[] = [];
  let after = null;
  let pages = 0;
  for (;;) {
    const page = readTaskPage(db, 'web', after, 4);
    pages++;
    seen.push(...page.tasks.map((t) => t.id));
    if (!page.next) break;
    after = decodeCursor(page.next);
    assert.ok(after, 'next is a cursor the endpoint takes back');
    // A task created mid-walk in a slot already passed is not seen; nothing already seen comes again.
    if (pages === 2) apply(db, { type: 'task.create', id: 'late', serviceName: 'web', slot: 1, specVersion: 1, at: at + 10_000 });
  }
  assert.equal(pages, 6, '21 tasks at 4 a page');
  assert.equal(new Set(seen).size, seen.length, 'no task twice');
  assert.equal(seen.length, 21);
  const expected = Array.from({ length: 7 }, (_, s) => [2, 1, 0].map((d) => `web-${s + 1}-${d}`)).flat();
  assert.deepEqual(seen, expected);
  assert.equal(readTaskPage(db, 'web', null, 100).next, null);
  db.close();
});

test('cursors: what encodeCursor gives decodes back; anything else is refused', () => {
  const cursor = { slot: 3, createdAt: at, id: 'abc' };
  assert.deepEqual(decodeCursor(encodeCursor(cursor)), cursor);
  for (const bad of ['', 'x', Buffer.from('[1,2]').toString('base64url'), Buffer.from('["1",2,"a"]').toString('base64url'), Buffer.from('{"a":1}').toString('base64url')]) {
    assert.equal(decodeCursor(bad), null, bad);
  }
});

test('a service shows its current tasks and a bounded history, counting what it leaves out', () => {
  const db = cluster();
  seed(db, 'small', 3, 5);
  const small = readService(db, getService(db, 'small')!);
  assert.equal(small.tasks.length, 18, 'a small service keeps its whole history (5 per slot)');
  assert.equal(small.tasksOmitted, 0);
  seed(db, 'big', 60, 2);
  const big = readService(db, getService(db, 'big')!);
  assert.equal(big.running, 60);
  assert.equal(big.tasks.filter((t) => t.desiredState === 'RUNNING').length, 60, 'every current task');
  assert.equal(big.tasks.length, 60 + SERVICE_HISTORY_LIMIT);
  assert.equal(big.tasksOmitted, 120 - SERVICE_HISTORY_LIMIT);
  assert.ok(big.tasks.every((t, i, all) => i === 0 || all[i - 1]!.slot <= t.slot), 'slot order');
  db.close();
});

test('State keeps its shape for a small cluster and lists at most the limit of containers, counting them all', () => {
  const db = cluster();
  seed(db, 'web', 5, 1);
  const small = readState(db, at);
  assert.equal(small.containers.length, 5);
  assert.equal(small.containersTruncated, false);
  assert.deepEqual(small.containerCounts, { total: 5, byService: { web: 5 }, byNode: { 'host-a': 5 } });
  assert.equal(small.services[0]!.running, 5);
  assert.equal(small.services[0]!.error, 'boom web-5-0');
  assert.equal(small.nodes[0]!.tasks, 5);
  const cut = readState(db, at, 2);
  assert.deepEqual(cut.containers.map((c) => c.slot), [1, 2]);
  assert.equal(cut.containersTruncated, true);
  assert.equal(cut.containerCounts.total, 5);
  assert.equal(readState(db, at, 5).containers.length, 5, 'a larger limit reads again');
  db.close();
});

test('the traffic manager reads only live tasks of services that publish ports and are not being deleted', () => {
  const db = cluster();
  const ports = [{ published: 8080, target: 80, protocol: 'tcp' as const, mode: 'ingress' as const, proxy: 'none' as const }];
  apply(db, { type: 'service.create', id: 'web', name: 'web', spec: { ...spec, ports }, replicas: 1, at });
  apply(db, { type: 'service.create', id: 'gone', name: 'gone', spec: { ...spec, ports: [{ ...ports[0]!, published: 8081 }] }, replicas: 1, at });
  seed(db, 'plain', 2, 1);
  for (const [id, service] of [['w1', 'web'], ['w2', 'web'], ['g1', 'gone']] as const) {
    apply(db, { type: 'task.create', id, serviceName: service, slot: 1, specVersion: 1, at });
  }
  apply(db, { type: 'task.assign', taskId: 'w2', nodeId: 'n1', at });
  apply(db, { type: 'task.observe', taskId: 'w2', state: 'FAILED', at });
  apply(db, { type: 'service.delete', name: 'gone', at });
  assert.deepEqual(listRoutableTasks(db).map((t) => t.id), ['w1']);
  db.close();
});

test('State lists 100 containers unless asked for more, and counts them all', () => {
  const db = cluster();
  seed(db, 'wide', 150, 0);
  const state = readState(db, at);
  assert.equal(state.containers.length, STATE_CONTAINERS_LIMIT);
  assert.equal(STATE_CONTAINERS_LIMIT, 100);
  assert.equal(state.containersTruncated, true);
  assert.equal(state.containerCounts.total, 150);
  assert.equal(readState(db, at, 1000).containers.length, 150, '?limit=1000: the answer the default gave before');
  db.close();
});
