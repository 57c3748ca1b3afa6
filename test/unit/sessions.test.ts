import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from '../../database/commands';
import { setLocal } from '../../database/queries';
import { sessionAnswer, SessionHub, sessionWakes } from '../../modules/sessions';
import { apply, AT, clusterDb, simpleSpec } from '../helpers/shell-db';

describe('worker sessions: whose tasks an applied command changes', () => {
  const wakes = (command: Command) => {
    const w = sessionWakes(command);
    return { all: w.all, nodes: [...w.nodes.keys()].sort(), tasks: [...w.tasks].sort() };
  };

  test('a placement names its node; a stop, a slot move or a removal names its task; a worker\'s own report wakes nobody', () => {
    assert.deepEqual(wakes({ type: 'batch', commands: [
      { type: 'task.create', id: 't1', serviceName: 'web', slot: 1, specVersion: 1, nodeId: 'n1', at: AT },
      { type: 'task.assign', taskId: 't2', nodeId: 'n2', at: AT },
      { type: 'task.set-desired', taskId: 't3', desiredState: 'SHUTDOWN', at: AT },
      { type: 'task.remove', taskId: 't4', at: AT },
      { type: 'task.observe', taskId: 't5', state: 'RUNNING', at: AT },
      { type: 'node.seen', seen: { n1: AT }, at: AT },
    ] }), { all: false, nodes: ['n1', 'n2'], tasks: ['t3', 't4'] });
  });

  test('a change of a service or a secret, or a node removed, may touch any worker', () => {
    for (const command of [
      { type: 'service.delete', name: 'web', at: AT },
      { type: 'secret.remove', name: 'db', at: AT },
      { type: 'node.remove', nodeId: 'n1', at: AT },
    ] as Command[]) assert.equal(wakes(command).all, true, command.type);
  });
});

describe('worker sessions: the hub wakes only the workers whose tasks changed', () => {
  const { db, close } = clusterDb([{ id: 'm1', name: 'host-1' }], 'm1');
  after(close);
  const hub = new SessionHub(db, async () => undefined, undefined, 5);
  after(() => hub.stop());
  let index = 0;
  /** Applies `command` and records it as the log entry at the next index, as the voting thread does. */
  const commit = (command: Command) => {
    apply(db, command);
    index++;
    db.prepare("INSERT INTO raft_entries (log_index, term, type, data) VALUES (?, 1, 'normal', ?)").run(index, JSON.stringify(command));
    setLocal(db, 'applied_index', String(index));
  };
  for (const id of ['s1', 's2']) commit({ type: 'node.register', node: { id, name: id, address: `127.0.0.1:${id === 's1' ? 1 : 2}`, role: 'worker', startedAt: AT, link: 'session' }, at: AT });
  commit({ type: 'service.create', id: 'svc-web', name: 'web', spec: simpleSpec('busybox'), replicas: 2, at: AT });

  test('a task placed on s1 wakes s1 at once; s2 waits out its wait and hears "no change"', async () => {
    const since = index;
    const s1 = hub.waitForChange('s1', since, 5000);
    const s2 = hub.waitForChange('s2', since, 200);
    commit({ type: 'task.create', id: 'task-1', serviceName: 'web', slot: 1, specVersion: 1, nodeId: 's1', at: AT });
    assert.equal(await s1, true);
    assert.equal(await s2, false);
    const answer = sessionAnswer(db, 's1', index);
    assert.deepEqual(answer.tasks?.map((t) => [t.id, t.state, t.desiredState]), [['task-1', 'ASSIGNED', 'RUNNING']]);
    assert.ok(answer.specs?.['web@1'], 'the answer carries the spec the task runs');
  });

  test('an answer after `after` lists only the tasks that changed since, and those gone elsewhere', async () => {
    const since = index;
    commit({ type: 'task.create', id: 'task-2', serviceName: 'web', slot: 2, specVersion: 1, nodeId: 's2', at: AT });
    assert.deepEqual(hub.changedSince('s2', since), ['task-2']);
    assert.deepEqual(hub.changedSince('s1', since), []);
    assert.equal(hub.changedSince('s2', 0), null, 'a worker asking from before the record began gets all its tasks');
    const partial = sessionAnswer(db, 's1', index, ['task-2']);
    assert.deepEqual([partial.full, partial.tasks, partial.gone], [false, [], ['task-2']], 'task-2 is not on s1');
  });

  test('a worker that asks after a change it has not seen is answered at once', async () => {
    const since = index;
    commit({ type: 'task.set-desired', taskId: 'task-1', desiredState: 'SHUTDOWN', at: AT + 1 });
    assert.equal(await hub.waitForChange('s1', since, 5000), true);
    assert.equal(await hub.waitForChange('s2', since, 0), false);
  });
});
