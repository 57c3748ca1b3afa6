import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IllegalTransitionError,
  TASK_STATES,
  isTerminalTaskState,
  taskStateOrder,
  transitionTask,
  type TaskState,
} from '../../database/task-state';
import { SERVICE_STATES, canTransitionService, isServiceDeleting, transitionService, type ServiceState } from '../../database/service-state';
import { NODE_STATUSES, isSchedulable, transitionNodeStatus, type NodeStatus } from '../../database/node-state';

function assertRefused(move: () => unknown, entity: string, from: string, to: string): void {
  assert.throws(move, (error: unknown) => {
    assert.ok(error instanceof IllegalTransitionError, `expected IllegalTransitionError for ${from} → ${to}, got ${String(error)}`);
    assert.equal(error.entity, entity);
    assert.equal(error.from, from);
    assert.equal(error.to, to);
    assert.match(error.message, new RegExp(`${from}.*${to}`));
    return true;
  });
}

describe('task state machine', () => {
  const terminal: TaskState[] = ['COMPLETE', 'SHUTDOWN', 'FAILED', 'ORPHANED'];
  const live: TaskState[] = ['NEW', 'ASSIGNED', 'STARTING', 'RUNNING'];

  test('states are ordered NEW < ASSIGNED < STARTING < RUNNING < COMPLETE < SHUTDOWN < FAILED < ORPHANED', () => {
    for (let i = 1; i < TASK_STATES.length; i++) {
      assert.ok(taskStateOrder(TASK_STATES[i - 1]!) < taskStateOrder(TASK_STATES[i]!), `${TASK_STATES[i - 1]} before ${TASK_STATES[i]}`);
    }
  });

  test('COMPLETE, SHUTDOWN, FAILED and ORPHANED are terminal; NEW, ASSIGNED, STARTING and RUNNING are not', () => {
    for (const s of terminal) assert.equal(isTerminalTaskState(s), true, s);
    for (const s of live) assert.equal(isTerminalTaskState(s), false, s);
  });

  test('the normal life of a task moves forward one step at a time: NEW → ASSIGNED → STARTING → RUNNING → COMPLETE', () => {
    let state: TaskState = 'NEW';
    for (const next of ['ASSIGNED', 'STARTING', 'RUNNING', 'COMPLETE'] as const) state = transitionTask(state, next);
    assert.equal(state, 'COMPLETE');
  });

  test('a task may skip forward (NEW straight to FAILED, ASSIGNED straight to RUNNING)', () => {
    assert.equal(transitionTask('NEW', 'FAILED'), 'FAILED');
    assert.equal(transitionTask('ASSIGNED', 'RUNNING'), 'RUNNING');
    assert.equal(transitionTask('RUNNING', 'ORPHANED'), 'ORPHANED');
  });

  test('observing the current state again is allowed, even for a terminal state (idempotent reports)', () => {
    for (const s of TASK_STATES) assert.equal(transitionTask(s, s), s);
  });

  test('a task never moves backward: every backward move is refused with IllegalTransitionError', () => {
    for (const from of TASK_STATES) {
      for (const to of TASK_STATES) {
        if (taskStateOrder(to) < taskStateOrder(from)) assertRefused(() => transitionTask(from, to), 'task', from, to);
      }
    }
  });

  test('a terminal state is final: even a "later" state is refused (FAILED → ORPHANED, COMPLETE → FAILED)', () => {
    for (const from of terminal) {
      for (const to of TASK_STATES) {
        if (to !== from) assertRefused(() => transitionTask(from, to), 'task', from, to);
      }
    }
  });

  test('every forward move from a non-terminal state is allowed', () => {
    for (const from of live) {
      for (const to of TASK_STATES) {
        if (taskStateOrder(to) >= taskStateOrder(from)) assert.equal(transitionTask(from, to), to, `${from} → ${to}`);
      }
    }
  });
});

describe('service state machine', () => {
  const legal: Record<ServiceState, ServiceState[]> = {
    NEW: ['DEPLOYING', 'DELETE'],
    DEPLOYING: ['DEPLOYING', 'RUNNING', 'DEGRADED', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
    RUNNING: ['DEPLOYING', 'DEGRADED', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
    DEGRADED: ['DEPLOYING', 'RUNNING', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
    UPDATING: ['UPDATING', 'RUNNING', 'PAUSED', 'ROLLING_BACK', 'DELETE'],
    PAUSED: ['UPDATING', 'ROLLING_BACK', 'RUNNING', 'DELETE'],
    ROLLING_BACK: ['ROLLED_BACK', 'PAUSED', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
    ROLLED_BACK: ['DEPLOYING', 'RUNNING', 'DEGRADED', 'UPDATING', 'ROLLING_BACK', 'DELETE'],
    DELETE: ['DELETING'],
    DELETING: [],
  };

  test('a new service is deployed, then becomes RUNNING or DEGRADED', () => {
    assert.equal(transitionService('NEW', 'DEPLOYING'), 'DEPLOYING');
    assert.equal(transitionService('DEPLOYING', 'RUNNING'), 'RUNNING');
    assert.equal(transitionService('DEPLOYING', 'DEGRADED'), 'DEGRADED');
  });

  test('RUNNING and DEGRADED swap as replicas fail and recover', () => {
    assert.equal(transitionService('RUNNING', 'DEGRADED'), 'DEGRADED');
    assert.equal(transitionService('DEGRADED', 'RUNNING'), 'RUNNING');
  });

  test('an update sends RUNNING, DEGRADED or DEPLOYING back to DEPLOYING', () => {
    for (const from of ['RUNNING', 'DEGRADED', 'DEPLOYING'] as const) assert.equal(transitionService(from, 'DEPLOYING'), 'DEPLOYING');
  });

  test('every state but DELETE and DELETING may be deleted', () => {
    for (const from of ['NEW', 'DEPLOYING', 'RUNNING', 'DEGRADED'] as const) assert.equal(transitionService(from, 'DELETE'), 'DELETE');
  });

  test('DELETE moves only to DELETING, and DELETING moves nowhere', () => {
    assert.equal(transitionService('DELETE', 'DELETING'), 'DELETING');
    for (const to of SERVICE_STATES) {
      if (to !== 'DELETING') assertRefused(() => transitionService('DELETE', to), 'service', 'DELETE', to);
      assertRefused(() => transitionService('DELETING', to), 'service', 'DELETING', to);
    }
  });

  test('a service never returns to NEW, and NEW cannot skip deployment to RUNNING or DEGRADED', () => {
    for (const from of SERVICE_STATES) assertRefused(() => transitionService(from, 'NEW'), 'service', from, 'NEW');
    assertRefused(() => transitionService('NEW', 'RUNNING'), 'service', 'NEW', 'RUNNING');
    assertRefused(() => transitionService('NEW', 'DEGRADED'), 'service', 'NEW', 'DEGRADED');
  });

  test('a deleting service cannot be revived (DELETE/DELETING → DEPLOYING or RUNNING refused)', () => {
    for (const from of ['DELETE', 'DELETING'] as const) {
      for (const to of ['DEPLOYING', 'RUNNING', 'DEGRADED'] as const) assertRefused(() => transitionService(from, to), 'service', from, to);
    }
  });

  test('exactly the moves in the table are legal; every other move is refused with IllegalTransitionError', () => {
    for (const from of SERVICE_STATES) {
      for (const to of SERVICE_STATES) {
        const ok = legal[from].includes(to);
        assert.equal(canTransitionService(from, to), ok, `${from} → ${to}`);
        if (ok) assert.equal(transitionService(from, to), to);
        else assertRefused(() => transitionService(from, to), 'service', from, to);
      }
    }
  });

  test('only DELETE and DELETING count as deleting (no more updates accepted)', () => {
    for (const s of SERVICE_STATES) assert.equal(isServiceDeleting(s), s === 'DELETE' || s === 'DELETING', s);
  });
});

describe('node status machine', () => {
  const legal: Record<NodeStatus, NodeStatus[]> = {
    UNKNOWN: ['READY', 'DOWN'],
    READY: ['READY', 'DOWN', 'UNKNOWN'],
    DOWN: ['READY', 'DOWN'],
  };

  test('a node that is heard from becomes READY, one that misses its grace becomes DOWN, and a DOWN node may come back', () => {
    assert.equal(transitionNodeStatus('UNKNOWN', 'READY'), 'READY');
    assert.equal(transitionNodeStatus('READY', 'DOWN'), 'DOWN');
    assert.equal(transitionNodeStatus('DOWN', 'READY'), 'READY');
  });

  test('a DOWN node cannot become UNKNOWN: it must be heard from (READY) first', () => {
    assertRefused(() => transitionNodeStatus('DOWN', 'UNKNOWN'), 'node', 'DOWN', 'UNKNOWN');
  });

  test('exactly the moves in the table are legal; every other move is refused with IllegalTransitionError', () => {
    for (const from of NODE_STATUSES) {
      for (const to of NODE_STATUSES) {
        if (legal[from].includes(to)) assert.equal(transitionNodeStatus(from, to), to, `${from} → ${to}`);
        else assertRefused(() => transitionNodeStatus(from, to), 'node', from, to);
      }
    }
  });

  test('only a READY and active node takes new tasks: DOWN, UNKNOWN, drained or paused nodes do not', () => {
    assert.equal(isSchedulable({ status: 'READY', availability: 'active' }), true);
    assert.equal(isSchedulable({ status: 'READY', availability: 'drain' }), false);
    assert.equal(isSchedulable({ status: 'READY', availability: 'pause' }), false);
    assert.equal(isSchedulable({ status: 'DOWN', availability: 'active' }), false);
    assert.equal(isSchedulable({ status: 'UNKNOWN', availability: 'active' }), false);
  });
});
