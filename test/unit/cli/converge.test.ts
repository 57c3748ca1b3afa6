import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isConverged, liveTaskLines, pendingLines, progressText, removalText } from '../../../cli/converge';
import { service, task } from './fixtures';

describe('isConverged', () => {
  it('holds when every replica runs at the current version', () => {
    assert.equal(isConverged(service()), true);
  });
  it('fails while fewer run than wanted', () => {
    const s = service({ replicas: 2, running: 1, tasks: [task(), task({ slot: 2, state: 'STARTING' })] });
    assert.equal(isConverged(s), false);
  });
  it('fails while a task meant to run is older than the newest task', () => {
    const s = service({ replicas: 2, running: 2, version: 5, tasks: [task({ version: 2 }), task({ slot: 2, version: 1 })] });
    assert.equal(isConverged(s), false);
  });
  it('fails while tasks are older than the version an update asked for', () => {
    const s = service({ version: 4, tasks: [task({ version: 1 })] });
    assert.equal(isConverged(s, { minTaskVersion: 2 }), false);
    assert.equal(isConverged({ ...s, tasks: [task({ version: 2 })] }, { minTaskVersion: 2 }), true);
  });
  it('holds after a scale, which bumps the service version but not the tasks', () => {
    const s = service({ replicas: 2, running: 2, version: 2, tasks: [task({ version: 1 }), task({ slot: 2, version: 1 })] });
    assert.equal(isConverged(s), true);
  });
  it('ignores tasks being shut down', () => {
    const s = service({ version: 2, tasks: [task({ version: 2 }), task({ version: 1, desiredState: 'SHUTDOWN', state: 'RUNNING' })] });
    assert.equal(isConverged(s), true);
  });
  it('compares specVersion when the daemon exposes it (a scale bumps only version)', () => {
    const s = service({ version: 3, specVersion: 1, tasks: [task({ version: 1, specVersion: 1 })] });
    assert.equal(isConverged(s), true);
    assert.equal(isConverged({ ...s, specVersion: 2 }), false);
  });
  it('holds for zero replicas once nothing runs', () => {
    assert.equal(isConverged(service({ replicas: 0, running: 0, tasks: [] })), true);
  });
});

describe('progress text', () => {
  it('reads "web: 3/5 running"', () => {
    assert.equal(progressText(service({ replicas: 5, running: 3, tasks: [] })), 'web: 3/5 running');
  });
  it('adds the updated count during a rollout', () => {
    const s = service({
      replicas: 2, running: 2, version: 3,
      tasks: [task({ version: 3 }), task({ slot: 2, version: 2 })],
    });
    assert.equal(progressText(s), 'web: 2/2 running, 1/2 updated');
    assert.equal(progressText({ ...s, tasks: [task({ version: 2 })] }, { minTaskVersion: 3 }), 'web: 2/2 running, 0/2 updated');
  });
  it('says what is removed', () => {
    assert.equal(removalText('web', null), 'web: removed');
    const s = service({ state: 'DELETING', tasks: [task(), task({ slot: 2, state: 'SHUTDOWN' })] });
    assert.equal(removalText('web', s), 'web: removing, 1 task(s) left');
  });
});

describe('pending lines', () => {
  it('names each pending slot with its node, state and error', () => {
    const s = service({
      replicas: 4, running: 1, version: 7,
      tasks: [
        task({ version: 2 }),
        task({ slot: 2, state: 'STARTING', version: 2, error: 'pull access denied' }),
        task({ slot: 3, state: 'RUNNING', version: 1 }),
        task({ slot: 4, node: null, state: 'NEW', version: 2 }),
      ],
    });
    assert.deepEqual(pendingLines(s), [
      'web.2 on node-a: STARTING, want RUNNING: pull access denied',
      'web.3 on node-a: RUNNING at version 1, want 2',
      'web.4 (unassigned): NEW, want RUNNING',
    ]);
  });
  it('says a slot waits to restart and gives the last failed attempt once', () => {
    const failed = (at: string, error: string) =>
      task({ desiredState: 'SHUTDOWN', state: 'FAILED', updatedAt: at, error });
    const s = service({
      replicas: 2, running: 0, state: 'DEGRADED',
      tasks: [
        failed('2025-01-01T00:00:01Z', 'old error'),
        failed('2025-01-01T00:00:09Z', 'image not found '),
        task({ slot: 2, state: 'STARTING' }),
      ],
    });
    assert.deepEqual(pendingLines(s), ['web.1: waiting to restart after 2 failed attempts: image not found', 'web.2 on node-a: STARTING, want RUNNING']);
  });
  it('lists tasks still running beyond the replica count', () => {
    const s = service({ replicas: 1, running: 2, tasks: [task(), task({ slot: 2 })] });
    assert.deepEqual(pendingLines(s), ['web.2 on node-a: RUNNING, to be shut down']);
  });
  it('lists live tasks of a service being removed', () => {
    const s = service({ state: 'DELETING', tasks: [task({ slot: 2 }), task({ state: 'COMPLETE' })] });
    assert.deepEqual(liveTaskLines(s), ['web.2 on node-a: RUNNING']);
  });
});
