import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  drainPendingLines, drainPicture, drainStatus, drainText, isDrained, rebalanceText, spreadText,
} from '../../../cli/converge';
import { service, task } from './fixtures';

const host3 = { id: 'n-3', name: 'host-3' };

describe('drain picture', () => {
  it('counts tasks on the node meant to run as still to move, over every service', () => {
    const services = [
      service({ tasks: [task({ nodeId: 'n-3', node: 'host-3' }), task({ slot: 2, nodeId: 'n-1', node: 'host-1' })] }),
      service({ name: 'api', tasks: [task({ nodeId: 'n-3', node: 'host-3', state: 'STARTING' })] }),
    ];
    const picture = drainPicture(services, host3);
    assert.equal(picture.toMove.length, 2);
    assert.equal(picture.stopping.length, 0);
    assert.equal(drainText(host3, picture), 'host-3: 2 replicas still to move');
    assert.equal(isDrained(picture), false);
  });
  it('then waits for the ones told to shut down to stop', () => {
    const picture = drainPicture([service({ tasks: [
      task({ nodeId: 'n-3', node: 'host-3', desiredState: 'SHUTDOWN', state: 'RUNNING' }),
      task({ nodeId: 'n-3', node: 'host-3', desiredState: 'SHUTDOWN', state: 'SHUTDOWN' }),
      task({ nodeId: null, node: null, state: 'NEW' }),
    ] })], host3);
    assert.deepEqual([picture.toMove.length, picture.stopping.length], [0, 1]);
    assert.equal(drainText(host3, picture), 'host-3: 1 replica stopping');
    assert.equal(isDrained(picture), false);
  });
  it('is drained when nothing on the node runs or is meant to; unassigned replicas do not count', () => {
    const picture = drainPicture([service({ tasks: [
      task({ nodeId: 'n-3', node: 'host-3', desiredState: 'SHUTDOWN', state: 'SHUTDOWN' }),
      task({ nodeId: 'n-3', node: 'host-3', desiredState: 'SHUTDOWN', state: 'FAILED' }),
      task({ nodeId: null, node: null, state: 'NEW' }),
    ] })], host3);
    assert.equal(isDrained(picture), true);
    assert.equal(drainStatus(picture), 'drained');
  });
  it('matches tasks by node id, and by name only when the task has no id', () => {
    const picture = drainPicture([service({ tasks: [
      task({ nodeId: 'n-9', node: 'host-3' }),
      task({ slot: 2, nodeId: null, node: 'host-3' }),
    ] })], host3);
    assert.deepEqual(picture.toMove.map((t) => t.task.slot), [2]);
  });
  it('names each task left, for the timeout message', () => {
    const picture = drainPicture([
      service({ tasks: [task({ slot: 2, nodeId: 'n-3', node: 'host-3', state: 'STARTING', error: 'pull failed ' })] }),
      service({ name: 'api', tasks: [task({ nodeId: 'n-3', desiredState: 'SHUTDOWN', state: 'RUNNING' })] }),
    ], host3);
    assert.deepEqual(drainPendingLines(host3, picture), [
      'web.2 on host-3: STARTING, still to move: pull failed',
      'api.1 on host-3: RUNNING, stopping',
    ]);
  });
});

describe('rebalance progress', () => {
  it('shows the replicas meant to run per node, unassigned last', () => {
    const s = service({ replicas: 4, running: 3, tasks: [
      task({ node: 'host-2' }),
      task({ slot: 2, node: 'host-1' }),
      task({ slot: 3, node: 'host-2' }),
      task({ slot: 4, node: null, nodeId: null, state: 'NEW' }),
      task({ slot: 1, node: 'host-3', desiredState: 'SHUTDOWN', state: 'RUNNING' }),
    ] });
    assert.equal(spreadText(s), 'host-1 1, host-2 2, unassigned 1');
    assert.equal(spreadText(service({ replicas: 0, running: 0, tasks: [] })), 'no replicas');
  });
  it('says rebalancing until the daemon clears the flag', () => {
    const s = service({ rebalancing: true, tasks: [task({ node: 'host-1' })] });
    assert.equal(rebalanceText(s), 'web: rebalancing, 1/1 running (host-1 1)');
    assert.equal(rebalanceText({ ...s, rebalancing: false }), 'web: balanced, 1/1 running (host-1 1)');
  });
});
