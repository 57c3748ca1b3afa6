import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clockTime, FollowPlan, formatLostMarker, formatRemovedMarker, type LogTask } from '../../modules/service-logs-plan';

const task = (id: string, slot: number, nodeId: string | null, state: LogTask['state'], containerId: string | null = `c-${id}`, updatedAt = 1000): LogTask => ({
  id, slot, nodeId, containerId, state, updatedAt,
});

const opens = (actions: ReturnType<FollowPlan['step']>) => actions.filter((a) => a.kind === 'open').map((a) => a.kind === 'open' && `${a.replica}@${a.nodeId}:${a.containerId}${a.fromStart ? ':start' : ''}`);

describe('FollowPlan', () => {
  test('the first read opens the running replicas with the requested tail; later ones from their start', () => {
    const plan = new FollowPlan('web', true);
    assert.deepEqual(opens(plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'RUNNING')])), ['web.1@n1:c-a', 'web.2@n2:c-b']);
    // a scale-up: slot 3 appears, first without a container, then STARTING, then RUNNING
    assert.deepEqual(plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'RUNNING'), task('c', 3, 'n1', 'ASSIGNED', null)]), []);
    assert.deepEqual(plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'RUNNING'), task('c', 3, 'n1', 'STARTING')]), []);
    assert.deepEqual(opens(plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'RUNNING'), task('c', 3, 'n1', 'RUNNING')])), ['web.3@n1:c-c:start']);
  });

  test('a container is opened once: the same rows again open nothing, a died replica is not closed (its log ends by itself)', () => {
    const plan = new FollowPlan('web', true);
    plan.step([task('a', 1, 'n1', 'RUNNING')]);
    assert.deepEqual(plan.step([task('a', 1, 'n1', 'RUNNING')]), []);
    assert.deepEqual(plan.step([task('a', 1, 'n1', 'FAILED')]), []);
    // its replacement in the same slot, on the same node: opened from its start, no marker
    assert.deepEqual(plan.step([task('a', 1, 'n1', 'FAILED'), task('a2', 1, 'n1', 'RUNNING')]), [
      { kind: 'open', taskId: 'a2', containerId: 'c-a2', replica: 'web.1', nodeId: 'n1', fromStart: true },
    ]);
  });

  test('a replica on a lost node is closed, and marked lost just before its replacement opens', () => {
    const plan = new FollowPlan('web', true);
    plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'RUNNING')]);
    assert.deepEqual(plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'ORPHANED', 'c-b', 5000), task('b2', 2, null, 'NEW', null)]), [
      { kind: 'close', taskId: 'b' },
    ]);
    assert.deepEqual(plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'ORPHANED', 'c-b', 5000), task('b2', 2, 'n3', 'RUNNING')]), [
      { kind: 'lost', replica: 'web.2', nodeId: 'n2', at: 5000, replacement: { replica: 'web.2', nodeId: 'n3' } },
      { kind: 'open', taskId: 'b2', containerId: 'c-b2', replica: 'web.2', nodeId: 'n3', fromStart: true },
    ]);
    assert.deepEqual(plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'ORPHANED', 'c-b', 5000), task('b2', 2, 'n3', 'RUNNING')]), []);
  });

  test('the loss and the running replacement in one read: close, marker, open, in that order', () => {
    const plan = new FollowPlan('web', true);
    plan.step([task('b', 2, 'n2', 'RUNNING')]);
    assert.deepEqual(plan.step([task('b', 2, 'n2', 'ORPHANED', 'c-b', 7000), task('b2', 2, 'n1', 'RUNNING')]).map((a) => a.kind), ['close', 'lost', 'open']);
  });

  test('a replacement opened before the old replica is marked ORPHANED: the marker comes with the marking', () => {
    const plan = new FollowPlan('web', true);
    plan.step([task('b', 2, 'n2', 'RUNNING')]);
    plan.step([task('b', 2, 'n2', 'RUNNING'), task('b2', 2, 'n3', 'RUNNING')]);
    assert.deepEqual(plan.step([task('b', 2, 'n2', 'ORPHANED', 'c-b', 9000), task('b2', 2, 'n3', 'RUNNING')]), [
      { kind: 'close', taskId: 'b' },
      { kind: 'lost', replica: 'web.2', nodeId: 'n2', at: 9000, replacement: { replica: 'web.2', nodeId: 'n3' } },
    ]);
  });

  test('a replica never followed that is lost makes no marker; a task gone from the table is closed', () => {
    const plan = new FollowPlan('web', true);
    plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'STARTING')]);
    assert.deepEqual(plan.step([task('a', 1, 'n1', 'RUNNING'), task('b', 2, 'n2', 'ORPHANED'), task('b2', 2, 'n3', 'RUNNING')]).map((a) => a.kind), ['open']);
    assert.deepEqual(plan.step([task('b2', 2, 'n3', 'RUNNING')]), [{ kind: 'close', taskId: 'a' }]);
  });

  test('without follow: every task with a container that has not ended, with the requested tail', () => {
    const plan = new FollowPlan('web', false);
    assert.deepEqual(opens(plan.step([task('a', 1, 'n1', 'STARTING'), task('b', 2, 'n2', 'RUNNING'), task('c', 3, 'n2', 'FAILED'), task('d', 4, 'n1', 'NEW', null)])), ['web.1@n1:c-a', 'web.2@n2:c-b']);
  });
});

describe('markers', () => {
  test('the lost marker, in the local time of the process', () => {
    const at = new Date(2026, 11, 3, 12, 0, 3).getTime();
    assert.equal(clockTime(at), '12:00:03');
    assert.equal(
      formatLostMarker({ replica: 'web.2', node: 'host-2', at, replacement: { replica: 'web.2', node: 'host-3' } }),
      '--- web.2 on host-2: lost at 12:00:03, replaced by web.2 on host-3 ---',
    );
    assert.equal(clockTime(new Date(2026, 0, 1, 7, 5, 9).getTime()), '07:05:09');
  });

  test('the removed marker', () => {
    assert.equal(formatRemovedMarker('web'), '--- service web removed ---');
  });
});
