import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcileAgent, type AgentAction, type ObservedContainer } from '../../daemon/deployment/agent-reconcile';
import type { TaskRecord } from '../../database/queries';
import { taskRecord } from '../helpers/records';


/** A task assigned to this node, wanted RUNNING, not started yet, unless told otherwise. */
function task(id: string, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return taskRecord('web', 1, { id, nodeId: 'n1', state: 'ASSIGNED', ...overrides });
}

/** A container as the agent names them (web.1.<task>), unless `name` says otherwise. */
function container(id: string, taskId: string | null, state: string, exitCode: number | null = null, name = `web.1.${taskId ?? 'none'}`, health: ObservedContainer['health'] = 'none'): ObservedContainer {
  return { id, taskId, state, exitCode, ip: null, name, health };
}

function reconcile(tasks: TaskRecord[], containers: ObservedContainer[], busy: string[] = []): AgentAction[] {
  return reconcileAgent(tasks, containers, new Set(busy));
}

/** Actions without the (large) task record, for readable comparisons. */
function summary(actions: AgentAction[]): unknown[] {
  return actions.map((a) => (a.kind === 'start' ? { kind: 'start', taskId: a.task.id, containerId: a.containerId } : a));
}

describe('agent reconcile: health', () => {
  const running = (health: ObservedContainer['health']) => container('c1', 't1', 'running', null, 'web.1.t1', health);

  test('a running container\'s health is reported when it changes, and only then', () => {
    const t = task('t1', { state: 'RUNNING', containerId: 'c1', health: 'starting' });
    assert.deepEqual(summary(reconcile([t], [running('starting')])), []);
    assert.deepEqual(summary(reconcile([t], [running('healthy')])), [
      { kind: 'report', taskId: 't1', state: 'RUNNING', containerId: 'c1', exitCode: null, error: null, health: 'healthy' },
    ]);
    assert.deepEqual(summary(reconcile([task('t1', { state: 'RUNNING', containerId: 'c1', health: null })], [running('none')])), [], 'null is none');
  });

  test('an unhealthy container fails its task (it is then replaced like a dead one)', () => {
    const t = task('t1', { state: 'RUNNING', containerId: 'c1', health: 'healthy' });
    assert.deepEqual(summary(reconcile([t], [running('unhealthy')])), [
      { kind: 'report', taskId: 't1', state: 'FAILED', containerId: 'c1', exitCode: null, error: 'container is unhealthy', health: 'unhealthy' },
    ]);
  });

  test('a failed task\'s container is removed', () => {
    const t = task('t1', { state: 'FAILED', containerId: 'c1', desiredState: 'SHUTDOWN' });
    assert.deepEqual(summary(reconcile([t], [running('unhealthy')])).map((a: any) => a.kind), ['remove']);
  });
});

describe('agent reconcile: starting', () => {
  test('a task wanted RUNNING without a container is started (a new container is created)', () => {
    assert.deepEqual(summary(reconcile([task('t1')], [])), [{ kind: 'start', taskId: 't1', containerId: null }]);
  });

  test('a task whose container was created but never started gets that container started', () => {
    assert.deepEqual(summary(reconcile([task('t1')], [container('c1', 't1', 'created')])), [{ kind: 'start', taskId: 't1', containerId: 'c1' }]);
  });

  test('a task whose container vanished while RUNNING is started again', () => {
    const actions = reconcile([task('t1', { state: 'RUNNING', containerId: 'c-old' })], []);
    assert.deepEqual(summary(actions), [{ kind: 'start', taskId: 't1', containerId: null }]);
  });
});

describe('agent reconcile: reporting what runs', () => {
  test('a running container of a task not yet RUNNING is reported RUNNING with its container id', () => {
    const actions = reconcile([task('t1', { state: 'STARTING' })], [container('c1', 't1', 'running')]);
    assert.deepEqual(actions, [{ kind: 'report', taskId: 't1', state: 'RUNNING', containerId: 'c1', exitCode: null, error: null, health: 'none' }]);
  });

  test('a task already RUNNING in the container it records needs nothing', () => {
    assert.deepEqual(reconcile([task('t1', { state: 'RUNNING', containerId: 'c1' })], [container('c1', 't1', 'running')]), []);
  });

  test('a RUNNING task recorded with another container is reported again with the one that runs', () => {
    const actions = reconcile([task('t1', { state: 'RUNNING', containerId: 'c-old' })], [container('c2', 't1', 'running')]);
    assert.deepEqual(actions, [{ kind: 'report', taskId: 't1', state: 'RUNNING', containerId: 'c2', exitCode: null, error: null, health: 'none' }]);
  });

  test('paused and restarting containers count as running', () => {
    for (const state of ['paused', 'restarting']) {
      const actions = reconcile([task('t1')], [container('c1', 't1', state)]);
      assert.deepEqual(actions, [{ kind: 'report', taskId: 't1', state: 'RUNNING', containerId: 'c1', exitCode: null, error: null, health: 'none' }], state);
    }
  });

  test('an exited container with a non-zero code is reported FAILED with the code and a message naming it', () => {
    const actions = reconcile([task('t1', { state: 'RUNNING', containerId: 'c1' })], [container('c1', 't1', 'exited', 137)]);
    assert.deepEqual(actions, [
      { kind: 'report', taskId: 't1', state: 'FAILED', containerId: 'c1', exitCode: 137, error: 'container exited with code 137' },
    ]);
  });

  test('an exited container with code 0 is reported COMPLETE, without an error', () => {
    const actions = reconcile([task('t1', { state: 'RUNNING', containerId: 'c1' })], [container('c1', 't1', 'exited', 0)]);
    assert.deepEqual(actions, [{ kind: 'report', taskId: 't1', state: 'COMPLETE', containerId: 'c1', exitCode: 0, error: null }]);
  });

  test('a dead container, or one whose exit code is unknown, is reported FAILED', () => {
    const actions = reconcile([task('t1', { state: 'RUNNING' })], [container('c1', 't1', 'dead', null)]);
    assert.deepEqual(actions, [
      { kind: 'report', taskId: 't1', state: 'FAILED', containerId: 'c1', exitCode: null, error: 'container exited with code unknown' },
    ]);
  });

  test('a container the engine is removing is waited for: no action', () => {
    assert.deepEqual(reconcile([task('t1', { state: 'RUNNING' })], [container('c1', 't1', 'removing')]), []);
  });
});

describe('agent reconcile: shutting down', () => {
  test('a task wanted SHUTDOWN with a container: remove the container, then report SHUTDOWN', () => {
    const actions = reconcile([task('t1', { state: 'RUNNING', desiredState: 'SHUTDOWN' })], [container('c1', 't1', 'running')]);
    assert.equal(actions.length, 1);
    const action = actions[0]!;
    assert.equal(action.kind, 'remove');
    if (action.kind === 'remove') {
      assert.equal(action.containerId, 'c1');
      assert.equal(action.taskId, 't1');
      assert.equal(action.reportState, 'SHUTDOWN');
    }
  });

  test('a task wanted SHUTDOWN without a container is reported SHUTDOWN at once', () => {
    const actions = reconcile([task('t1', { desiredState: 'SHUTDOWN' })], []);
    assert.deepEqual(actions, [{ kind: 'report', taskId: 't1', state: 'SHUTDOWN', containerId: null, exitCode: null, error: null }]);
  });

  test('a terminal task with a leftover container has it removed, without a new report (its state is final)', () => {
    for (const state of ['FAILED', 'COMPLETE', 'SHUTDOWN', 'ORPHANED'] as const) {
      const actions = reconcile([task('t1', { state, desiredState: 'RUNNING' })], [container('c1', 't1', 'exited', 1)]);
      assert.equal(actions.length, 1, state);
      const action = actions[0]!;
      assert.equal(action.kind, 'remove', state);
      if (action.kind === 'remove') {
        assert.equal(action.containerId, 'c1');
        assert.equal(action.reportState, null, state);
        assert.match(action.reason, new RegExp(state));
      }
    }
  });

  test('a terminal task without a container needs nothing, whatever its desired state', () => {
    assert.deepEqual(reconcile([task('t1', { state: 'FAILED' }), task('t2', { state: 'SHUTDOWN', desiredState: 'SHUTDOWN' })], []), []);
  });
});

describe('agent reconcile: stray containers', () => {
  test('a container for a task not assigned here is removed as an orphan', () => {
    const actions = reconcile([], [container('c9', 'gone-task', 'running')]);
    assert.equal(actions.length, 1);
    const action = actions[0]!;
    assert.equal(action.kind, 'remove');
    if (action.kind === 'remove') {
      assert.equal(action.containerId, 'c9');
      assert.equal(action.taskId, null);
      assert.equal(action.reportState, null);
    }
  });

  test('a Bicycle container without a task label is removed as an orphan', () => {
    const actions = reconcile([task('t1', { state: 'RUNNING', containerId: 'c1' })], [container('c1', 't1', 'running'), container('c7', null, 'exited', 0)]);
    assert.deepEqual(
      actions.map((a) => (a.kind === 'remove' ? a.containerId : a.kind)),
      ['c7'],
    );
  });

  test('two containers for one task: the running one is kept and the other removed', () => {
    for (const order of [0, 1]) {
      const both = [container('c-exited', 't1', 'exited', 1), container('c-running', 't1', 'running')];
      if (order) both.reverse();
      const actions = reconcile([task('t1', { state: 'RUNNING', containerId: 'c-running' })], both);
      assert.equal(actions.length, 1, `order ${order}`);
      const action = actions[0]!;
      assert.equal(action.kind, 'remove');
      if (action.kind === 'remove') {
        assert.equal(action.containerId, 'c-exited');
        assert.equal(action.reportState, null, 'removing a duplicate says nothing about the task');
      }
    }
  });

  test('two containers for a task that is not RUNNING yet: remove the duplicate and report the running one', () => {
    const actions = reconcile([task('t1', { state: 'STARTING' })], [container('c-created', 't1', 'created'), container('c-running', 't1', 'running')]);
    assert.deepEqual(
      actions.map((a) => [a.kind, a.kind === 'remove' ? a.containerId : a.kind === 'report' ? `${a.state} ${a.containerId}` : '']),
      [
        ['remove', 'c-created'],
        ['report', 'RUNNING c-running'],
      ],
    );
  });
});

describe('agent reconcile: busy work is left alone', () => {
  test('a task an earlier action is still working on gets no action', () => {
    assert.deepEqual(reconcile([task('t1')], [], ['t1']), []);
    assert.deepEqual(reconcile([task('t1', { desiredState: 'SHUTDOWN' })], [container('c1', 't1', 'running')], ['t1']), []);
  });

  test('a container being removed is not removed again, even as an orphan', () => {
    assert.deepEqual(reconcile([], [container('c9', 'gone-task', 'running')], ['c9']), []);
  });

  test('while its container is being removed, a task shut down is not reported SHUTDOWN early', () => {
    const actions = reconcile([task('t1', { state: 'RUNNING', desiredState: 'SHUTDOWN' })], [container('c1', 't1', 'running')], ['c1']);
    assert.deepEqual(actions, []);
  });

  test('while its container is being removed, a task wanted RUNNING is not started a second time', () => {
    const actions = reconcile([task('t1', { state: 'RUNNING', containerId: 'c1' })], [container('c1', 't1', 'exited', 1)], ['c1']);
    assert.deepEqual(actions, []);
  });

  test('other tasks are reconciled as usual while one is busy', () => {
    const actions = reconcile([task('t1'), task('t2')], [], ['t1']);
    assert.deepEqual(summary(actions), [{ kind: 'start', taskId: 't2', containerId: null }]);
  });

  test('a container that only copies a task\'s labels is not adopted: it is removed and the task\'s own container kept', () => {
    const own = container('c1', 't1', 'running');
    const impostor = container('c9', 't1', 'running', null, 'someone-else');
    const actions = reconcile([task('t1', { state: 'RUNNING', containerId: 'c1' })], [impostor, own]);
    assert.deepEqual(actions, [{ kind: 'remove', containerId: 'c9', taskId: null, reportState: null, reason: "it carries task t1's labels but is not its container" }]);
    const unrecorded = reconcile([task('t1')], [impostor]);
    assert.deepEqual(unrecorded.map((a) => a.kind).sort(), ['remove', 'start']);
  });
});
