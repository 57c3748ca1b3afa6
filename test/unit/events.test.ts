import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventsOfEntry, matchesFilter } from '../../database/events';
import type { Command } from '../../database/commands';
import { collectFilter, eventsPath, formatEvent } from '../../cli/commands/events';

const at = Date.UTC(2026, 11, 2, 12, 0, 0);
const spec = { image: 'busybox', command: null, env: {}, labels: {}, ports: [] };

test('a service create gives one service create event with the entry index, term and time', () => {
  const events = eventsOfEntry({ index: 42, term: 3, command: { type: 'service.create', id: 's1', name: 'web', spec, replicas: 2, at } });
  assert.deepEqual(events, [
    {
      index: 42,
      term: 3,
      time: '2026-12-02T12:00:00.000Z',
      type: 'service',
      action: 'create',
      service: 'web',
      attributes: { id: 's1', image: 'busybox', replicas: 2, mode: 'replicated' },
    },
  ]);
});

test('a batch gives the events of its inner commands in order, all at its index', () => {
  const command: Command = {
    type: 'batch',
    commands: [
      { type: 'task.create', id: 't1', serviceName: 'web', slot: 1, specVersion: 1, at },
      { type: 'batch', commands: [{ type: 'task.assign', taskId: 't1', nodeId: 'n1', at: at + 1 }] },
      { type: 'node.seen', seen: { n1: at }, at },
      { type: 'task.observe', taskId: 't1', state: 'RUNNING', containerId: 'c1', health: 'healthy', at: at + 2 },
    ],
  };
  const events = eventsOfEntry({ index: 7, term: 1, command }, (id) => (id === 't1' ? 'web' : undefined));
  assert.deepEqual(
    events.map((e) => [e.index, e.type, e.action, e.service, e.task, e.node ?? null]),
    [
      [7, 'task', 'create', 'web', 't1', null],
      [7, 'task', 'assign', 'web', 't1', 'n1'],
      [7, 'task', 'state', 'web', 't1', null],
      [7, 'task', 'health', 'web', 't1', null],
    ],
  );
  assert.deepEqual(events[2]!.attributes, { state: 'RUNNING', containerId: 'c1' });
  assert.equal(events[1]!.time, new Date(at + 1).toISOString());
});

test('node commands give node events named by their action', () => {
  const of = (command: Command) => eventsOfEntry({ index: 1, term: 1, command }).map((e) => `${e.type} ${e.action} ${e.node}`);
  assert.deepEqual(of({ type: 'node.set-status', nodeId: 'n1', status: 'DOWN', at }), ['node down n1']);
  assert.deepEqual(of({ type: 'node.set-availability', nodeId: 'n1', availability: 'drain', at }), ['node drain n1']);
  assert.deepEqual(of({ type: 'node.set-role', nodeId: 'n1', role: 'manager', at }), ['node promote n1']);
  assert.deepEqual(of({ type: 'node.remove', nodeId: 'n1', at }), ['node remove n1']);
  assert.deepEqual(of({ type: 'node.seen', seen: { n1: at }, at }), []);
});

test('service update names what changed; delete, state and remove follow the lifecycle', () => {
  const [update] = eventsOfEntry({ index: 5, term: 1, command: { type: 'service.update', name: 'web', changes: { replicas: 3, env: { A: '1' } }, at } });
  assert.equal(update!.action, 'update');
  assert.deepEqual(update!.attributes, { changed: 'env,replicas', replicas: 3 });
  const [state] = eventsOfEntry({ index: 6, term: 1, command: { type: 'service.set-state', name: 'web', state: 'RUNNING', version: 2, at } });
  assert.deepEqual([state!.action, state!.attributes], ['state', { state: 'RUNNING', version: 2 }]);
  assert.equal(eventsOfEntry({ index: 8, term: 1, command: { type: 'service.delete', name: 'web', at } })[0]!.action, 'delete');
  assert.equal(eventsOfEntry({ index: 9, term: 1, command: { type: 'service.remove', name: 'web', at } })[0]!.action, 'remove');
});

test('cluster init never carries the secret or the join token', () => {
  const [init] = eventsOfEntry({ index: 1, term: 1, command: { type: 'cluster.init', clusterId: 'c', secret: 'S3CRET', joinToken: 'T0KEN', at } });
  assert.deepEqual([init!.type, init!.action, init!.attributes], ['cluster', 'init', { clusterId: 'c' }]);
  assert.doesNotMatch(JSON.stringify(init), /S3CRET|T0KEN/);
});

test('pending reasons give one event per task; an unknown task has no service', () => {
  const events = eventsOfEntry({ index: 3, term: 1, command: { type: 'task.set-pending', reasons: { t1: 'no node fits', t2: null }, at } }, (id) =>
    id === 't1' ? 'web' : undefined,
  );
  assert.deepEqual(
    events.map((e) => [e.task, e.service, e.attributes.reason]),
    [
      ['t1', 'web', 'no node fits'],
      ['t2', undefined, null],
    ],
  );
  assert.equal('service' in events[1]!, false);
});

test('a filter matches on every field it gives; service matches the service and its tasks', () => {
  const events = eventsOfEntry(
    {
      index: 4,
      term: 1,
      command: {
        type: 'batch',
        commands: [
          { type: 'service.update', name: 'web', changes: { replicas: 1 }, at },
          { type: 'task.set-desired', taskId: 't1', desiredState: 'SHUTDOWN', at },
          { type: 'service.update', name: 'db', changes: { replicas: 1 }, at },
        ],
      },
    },
    () => 'web',
  );
  assert.equal(events.filter((e) => matchesFilter(e, { service: 'web' })).length, 2);
  assert.equal(events.filter((e) => matchesFilter(e, { service: 'web', type: 'task' })).length, 1);
  assert.equal(events.filter((e) => matchesFilter(e, {})).length, 3);
  assert.equal(events.filter((e) => matchesFilter(e, { action: 'desired' }))[0]!.task, 't1');
});

test('the CLI prints an event as docker events does, and builds its query from the options', () => {
  const [event] = eventsOfEntry({ index: 42, term: 1, command: { type: 'task.observe', taskId: 't1', state: 'FAILED', exitCode: 1, at } }, () => 'web');
  assert.equal(formatEvent(event!), '2026-12-02T12:00:00.000Z task state t1 (index=42, service=web, state=FAILED, exitCode=1)');
  const [update] = eventsOfEntry({ index: 43, term: 1, command: { type: 'service.update', name: 'web', changes: { replicas: 3 }, at } });
  assert.equal(formatEvent(update!), '2026-12-02T12:00:00.000Z service update web (index=43, changed=replicas, replicas=3)');
  assert.equal(eventsPath({}), '/events');
  assert.equal(eventsPath({ since: 0, filter: collectFilter('type=task', collectFilter('service=web')) }), '/events?since=0&service=web&type=task');
  assert.throws(() => collectFilter('colour=red'), /filter must be one of/);
});
