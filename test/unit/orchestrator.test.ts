import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { orchestrate, type OrchestratorInput, type OrchestratorOutput } from '../../daemon/deployment/orchestrator';
import { DEFAULT_BACKOFF, restartDelayMs } from '../../daemon/deployment/restart-backoff';
import type { Command } from '../../database/commands';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../database/queries';
import { nodeRecord, serviceRecord, taskRecord } from '../helpers/records';

const NOW = 1_700_000_000_000;

function service(overrides: Partial<ServiceRecord> = {}): ServiceRecord {
  return serviceRecord('web', { image: 'nginx:1.27', version: 4, createdAt: NOW - 600_000, updatedAt: NOW - 600_000, ...overrides });
}

function node(id: string, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return nodeRecord(id, { name: `node-${id}`, startedAt: NOW - 3_600_000, lastSeenAt: NOW, createdAt: NOW - 3_600_000, updatedAt: NOW, ...overrides });
}

let taskCounter = 0;
/** A task of service `web` running on n1 at spec version 1 unless told otherwise. */
function task(slot: number, overrides: Partial<TaskRecord> = {}): TaskRecord {
  taskCounter++;
  return taskRecord('web', slot, {
    id: `old-${slot}-${taskCounter}`,
    nodeId: 'n1',
    state: 'RUNNING',
    containerId: `c-${taskCounter}`,
    startedAt: NOW - 300_000,
    createdAt: NOW - 300_000 + taskCounter,
    updatedAt: NOW - 300_000,
    ...overrides,
  });
}

function run(input: Partial<OrchestratorInput> & Pick<OrchestratorInput, 'services' | 'tasks'>): OrchestratorOutput & { created: string[] } {
  let counter = 0;
  const created: string[] = [];
  const output = orchestrate({
    nodes: [node('n1'), node('n2')],
    now: NOW,
    updateParallelism: 2,
    newTaskId: () => {
      const id = `new-${++counter}`;
      created.push(id);
      return id;
    },
    ...input,
  });
  return { ...output, created };
}

function ofType<T extends Command['type']>(commands: Command[], type: T): Extract<Command, { type: T }>[] {
  return commands.filter((c): c is Extract<Command, { type: T }> => c.type === type);
}

const creates = (commands: Command[]) => ofType(commands, 'task.create');
const createdSlots = (commands: Command[]) => creates(commands).map((c) => c.slot).sort((a, b) => a - b);
const shutdowns = (commands: Command[]) =>
  ofType(commands, 'task.set-desired')
    .filter((c) => c.desiredState === 'SHUTDOWN')
    .map((c) => c.taskId)
    .sort();
const stateChanges = (commands: Command[]) => ofType(commands, 'service.set-state').map((c) => c.state);
const removals = (commands: Command[]) => ofType(commands, 'task.remove').map((c) => c.taskId).sort();

describe('orchestrator: replica count', () => {
  test('a new service gets one task per slot, at its spec version, with ids from newTaskId', () => {
    const out = run({ services: [service({ state: 'NEW', replicas: 3, specVersion: 1, version: 1 })], tasks: [] });
    assert.deepEqual(createdSlots(out.commands), [1, 2, 3]);
    for (const c of creates(out.commands)) {
      assert.equal(c.serviceName, 'web');
      assert.equal(c.specVersion, 1);
      assert.equal(c.at, NOW);
    }
    assert.deepEqual(creates(out.commands).map((c) => c.id), ['new-1', 'new-2', 'new-3']);
  });

  test('only missing slots get a task: slots that already have a live task are left alone', () => {
    const tasks = [task(1), task(3)];
    const out = run({ services: [service({ replicas: 4, state: 'DEPLOYING' })], tasks });
    assert.deepEqual(createdSlots(out.commands), [2, 4]);
    assert.deepEqual(shutdowns(out.commands), []);
  });

  test('a converged service produces no commands at all (nothing to do, no state change)', () => {
    const out = run({ services: [service({ replicas: 3 })], tasks: [task(1), task(2), task(3)] });
    assert.deepEqual(out.commands, []);
    assert.equal(out.wakeAt, undefined);
  });

  test('scale-down shuts down the tasks of slots above the replica count and creates none', () => {
    const tasks = [task(1), task(2), task(3), task(4)];
    const out = run({ services: [service({ replicas: 2, state: 'DEPLOYING' })], tasks });
    assert.deepEqual(shutdowns(out.commands), [tasks[2]!.id, tasks[3]!.id].sort());
    assert.deepEqual(creates(out.commands), []);
  });

  test('scaling to zero shuts down every task', () => {
    const tasks = [task(1), task(2)];
    const out = run({ services: [service({ replicas: 0, state: 'DEPLOYING' })], tasks });
    assert.deepEqual(shutdowns(out.commands), tasks.map((t) => t.id).sort());
    assert.deepEqual(creates(out.commands), []);
  });

  test('two live tasks in one slot: the running one of the current spec is kept, the other shut down', () => {
    const starting = task(1, { state: 'STARTING' });
    const running = task(1, { state: 'RUNNING' });
    const out = run({ services: [service({ replicas: 1 })], tasks: [starting, running] });
    assert.deepEqual(shutdowns(out.commands), [starting.id]);
    assert.deepEqual(creates(out.commands), []);
  });

  test('a task shut down but never placed on a node is removed outright', () => {
    const unplaced = task(2, { nodeId: null, state: 'NEW', desiredState: 'SHUTDOWN' });
    const out = run({ services: [service({ replicas: 1 })], tasks: [task(1), unplaced] });
    assert.deepEqual(removals(out.commands), [unplaced.id]);
  });
});

describe('orchestrator: failures and back-off', () => {
  test('a task that FAILED for the first time is shut down and replaced in the same pass', () => {
    const failed = task(2, { state: 'FAILED', exitCode: 1, updatedAt: NOW - 100 });
    const out = run({ services: [service()], tasks: [task(1), failed, task(3)] });
    assert.deepEqual(shutdowns(out.commands), [failed.id]);
    assert.deepEqual(createdSlots(out.commands), [2]);
    assert.equal(out.wakeAt, undefined);
  });

  test('a second failure within the window waits 1 s: wakeAt is set and no task is created before then', () => {
    const first = task(1, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 5_000 });
    const second = task(1, { state: 'FAILED', updatedAt: NOW - 100 });
    const out = run({ services: [service({ replicas: 1 })], tasks: [first, second] });
    assert.deepEqual(creates(out.commands), []);
    assert.equal(out.wakeAt, NOW - 100 + 1000);
    assert.deepEqual(shutdowns(out.commands), [second.id]);
  });

  test('once the back-off has passed the slot is replaced', () => {
    const first = task(1, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 5_000 });
    const second = task(1, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 1000 });
    const out = run({ services: [service({ replicas: 1 })], tasks: [first, second] });
    assert.deepEqual(createdSlots(out.commands), [1]);
    assert.equal(out.wakeAt, undefined);
  });

  test('the back-off doubles with each failure in the window (1 s, 2 s, 4 s …) and is capped', () => {
    assert.equal(restartDelayMs(0), 0);
    assert.equal(restartDelayMs(1), 0);
    assert.equal(restartDelayMs(2), 1000);
    assert.equal(restartDelayMs(3), 2000);
    assert.equal(restartDelayMs(4), 4000);
    assert.equal(restartDelayMs(5), 8000);
    assert.equal(restartDelayMs(6), DEFAULT_BACKOFF.maxMs);
    assert.equal(restartDelayMs(50), DEFAULT_BACKOFF.maxMs);

    const failures = [1, 2, 3, 4].map((i) => task(1, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 1000 + i }));
    const out = run({ services: [service({ replicas: 1 })], tasks: failures });
    assert.deepEqual(creates(out.commands), []);
    assert.equal(out.wakeAt, NOW - 1000 + 4 + 4000);
  });

  test('failures older than the window no longer count: the slot is replaced at once', () => {
    const old = [1, 2, 3].map(() => task(1, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - DEFAULT_BACKOFF.windowMs - 1 }));
    const out = run({ services: [service({ replicas: 1 })], tasks: old });
    assert.deepEqual(createdSlots(out.commands), [1]);
  });

  test('wakeAt is the earliest back-off end over all slots', () => {
    const tasks = [
      task(1, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 3000 }),
      task(1, { state: 'FAILED', updatedAt: NOW - 500 }), // slot 1 ready at NOW + 500
      task(2, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 3000 }),
      task(2, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 2900 }),
      task(2, { state: 'FAILED', updatedAt: NOW - 800 }), // slot 2 ready at NOW + 1200
    ];
    const out = run({ services: [service({ replicas: 2 })], tasks });
    assert.equal(out.wakeAt, NOW + 500);
    assert.deepEqual(creates(out.commands), []);
  });

  test('a task that COMPLETEd (exit 0) is replaced at once, without back-off', () => {
    const tasks = [
      task(1, { state: 'COMPLETE', desiredState: 'SHUTDOWN', exitCode: 0, updatedAt: NOW - 2000 }),
      task(1, { state: 'COMPLETE', exitCode: 0, updatedAt: NOW - 10 }),
    ];
    const out = run({ services: [service({ replicas: 1 })], tasks });
    assert.deepEqual(createdSlots(out.commands), [1]);
  });
});

describe('orchestrator: lost, drained and paused nodes', () => {
  test('tasks on a DOWN node are shut down, marked ORPHANED and replaced', () => {
    const lost = task(2, { nodeId: 'n2' });
    const out = run({ services: [service({ replicas: 2 })], tasks: [task(1), lost], nodes: [node('n1'), node('n2', { status: 'DOWN' })] });
    assert.deepEqual(shutdowns(out.commands), [lost.id]);
    const orphaned = ofType(out.commands, 'task.observe');
    assert.deepEqual(orphaned.map((c) => [c.taskId, c.state]), [[lost.id, 'ORPHANED']]);
    assert.match(orphaned[0]!.error ?? '', /down/);
    assert.deepEqual(createdSlots(out.commands), [2]);
  });

  test('tasks on a node that left the cluster are treated like tasks on a DOWN node', () => {
    const lost = task(1, { nodeId: 'gone' });
    const out = run({ services: [service({ replicas: 1 })], tasks: [lost] });
    assert.deepEqual(shutdowns(out.commands), [lost.id]);
    assert.deepEqual(ofType(out.commands, 'task.observe').map((c) => c.state), ['ORPHANED']);
    assert.deepEqual(createdSlots(out.commands), [1]);
  });

  test('a task already shut down but stuck on a DOWN node is marked ORPHANED (its node will never report it)', () => {
    const stuck = task(5, { nodeId: 'n2', desiredState: 'SHUTDOWN' });
    const out = run({ services: [service({ replicas: 1 })], tasks: [task(1), stuck], nodes: [node('n1'), node('n2', { status: 'DOWN' })] });
    assert.deepEqual(ofType(out.commands, 'task.observe').map((c) => [c.taskId, c.state]), [[stuck.id, 'ORPHANED']]);
  });

  test('tasks on a drained node are shut down and replaced (the scheduler puts the replacement elsewhere)', () => {
    const drained = task(2, { nodeId: 'n2' });
    const out = run({
      services: [service({ replicas: 2 })],
      tasks: [task(1), drained],
      nodes: [node('n1'), node('n2', { availability: 'drain' })],
    });
    assert.deepEqual(shutdowns(out.commands), [drained.id]);
    assert.deepEqual(createdSlots(out.commands), [2]);
    assert.deepEqual(ofType(out.commands, 'task.observe'), [], 'a drained node is alive: its tasks are not orphaned');
  });

  test('tasks on a paused node keep running (pause only stops new placements)', () => {
    const out = run({
      services: [service({ replicas: 2 })],
      tasks: [task(1), task(2, { nodeId: 'n2' })],
      nodes: [node('n1'), node('n2', { availability: 'pause' })],
    });
    assert.deepEqual(out.commands, []);
  });
});

/** A service of 3 replicas updating from spec version 1 to 2 since a minute ago, with any lifecycle settings. */
function updating(overrides: Partial<ServiceRecord> = {}, kind: 'update' | 'rollback' = 'update'): ServiceRecord {
  return service({
    specVersion: 2,
    state: kind === 'update' ? 'UPDATING' : 'ROLLING_BACK',
    updateStatus: { kind, fromVersion: kind === 'update' ? 1 : 3, toVersion: 2, startedAt: NOW - 60_000, completedAt: null, message: null },
    ...overrides,
  });
}

/** A replica of the new version 2, created since the update began, running for `ageMs`. */
function fresh(slot: number, overrides: Partial<TaskRecord> = {}, ageMs = 30_000): TaskRecord {
  return task(slot, { specVersion: 2, createdAt: NOW - ageMs, startedAt: NOW - ageMs, updatedAt: NOW - ageMs, ...overrides });
}

describe('orchestrator: rolling update', () => {
  test('stop-first (the default): the lowest parallelism slots are stopped first; nothing new starts in that pass', () => {
    const tasks = [1, 2, 3, 4, 5].map((slot) => task(slot));
    const out = run({ services: [updating({ replicas: 5 })], tasks, updateParallelism: 2 });
    assert.deepEqual(shutdowns(out.commands), [tasks[0]!.id, tasks[1]!.id].sort());
    assert.deepEqual(createdSlots(out.commands), []);
  });

  test('stop-first: a slot\'s new replica starts once its old one has stopped; a slot still stopping holds its place', () => {
    const tasks = [
      task(1, { desiredState: 'SHUTDOWN', state: 'SHUTDOWN' }),
      task(2, { desiredState: 'SHUTDOWN' }),
      task(3),
      task(4),
    ];
    const out = run({ services: [updating({ replicas: 4 })], tasks, updateParallelism: 2 });
    assert.deepEqual(createdSlots(out.commands), [1]);
    for (const c of creates(out.commands)) assert.equal(c.specVersion, 2);
    assert.deepEqual(shutdowns(out.commands), [], 'two slots in flight: no third');
  });

  test('while new replicas are still starting, no further slot is replaced', () => {
    const tasks = [fresh(1, { state: 'STARTING' }), fresh(2, { state: 'ASSIGNED' }), task(3), task(4)];
    const out = run({ services: [updating({ replicas: 4 })], tasks, updateParallelism: 2 });
    assert.deepEqual(creates(out.commands), []);
    assert.deepEqual(shutdowns(out.commands), []);
  });

  test('with one new replica serving and one still starting, exactly one more slot is replaced', () => {
    const tasks = [fresh(1), fresh(2, { state: 'STARTING' }), task(3), task(4)];
    const out = run({ services: [updating({ replicas: 4 })], tasks, updateParallelism: 2 });
    assert.deepEqual(shutdowns(out.commands), [tasks[2]!.id]);
  });

  test('start-first: new replicas start beside the old ones, which keep running', () => {
    const tasks = [1, 2, 3].map((slot) => task(slot));
    const out = run({ services: [updating({ lifecycle: { update: { order: 'start-first' } } })], tasks, updateParallelism: 2 });
    assert.deepEqual(createdSlots(out.commands), [1, 2]);
    assert.deepEqual(shutdowns(out.commands), []);
  });

  test('start-first: an old replica stops only once its slot\'s new one is healthy', () => {
    const old = [task(1), task(2), task(3)];
    const tasks = [...old, fresh(1, { health: 'healthy' }), fresh(2, { health: 'starting' })];
    const out = run({ services: [updating({ lifecycle: { update: { order: 'start-first' } } })], tasks, updateParallelism: 2 });
    assert.deepEqual(shutdowns(out.commands), [old[0]!.id], 'slot 2\'s new replica is not healthy yet');
    assert.deepEqual(createdSlots(out.commands), [3], 'slot 1 is done: one slot is free');
  });

  test('parallelism 0 replaces every slot at once', () => {
    const tasks = [1, 2, 3, 4].map((slot) => task(slot));
    const out = run({ services: [updating({ replicas: 4, lifecycle: { update: { parallelism: 0, order: 'start-first' } } })], tasks });
    assert.deepEqual(createdSlots(out.commands), [1, 2, 3, 4]);
  });

  test('delay: the next slot waits `delay` after the last one became healthy', () => {
    const tasks = [fresh(1, {}, 1_000), task(2), task(3)];
    const out = run({ services: [updating({ lifecycle: { update: { parallelism: 1, delayMs: 5_000 } } })], tasks });
    assert.deepEqual(shutdowns(out.commands), []);
    assert.equal(out.wakeAt, NOW + 4_000);
    const later = run({ services: [updating({ lifecycle: { update: { parallelism: 1, delayMs: 5_000 } } })], tasks, now: NOW + 4_000 });
    assert.deepEqual(shutdowns(later.commands), [tasks[1]!.id]);
  });

  test('an update completes `monitor` after its last replica became healthy: RUNNING, decided from the current version', () => {
    const tasks = [fresh(1), fresh(2), fresh(3, {}, 2_000)];
    const out = run({ services: [updating({ version: 9 })], tasks });
    assert.deepEqual(stateChanges(out.commands), [], 'monitor (5 s) not over yet');
    assert.equal(out.wakeAt, NOW + 3_000);
    const later = run({ services: [updating({ version: 9 })], tasks, now: NOW + 3_000 });
    assert.deepEqual(ofType(later.commands, 'service.set-state').map((c) => [c.state, c.version]), [['RUNNING', 9]]);
  });

  test('a rollback completes as ROLLED_BACK', () => {
    const tasks = [fresh(1), fresh(2), fresh(3)];
    const out = run({ services: [updating({}, 'rollback')], tasks });
    assert.deepEqual(stateChanges(out.commands), ['ROLLED_BACK']);
  });

  test('a failed new replica pauses the update (the default), naming why; no further slot is touched', () => {
    const tasks = [fresh(1, { state: 'FAILED', error: 'container exited with code 3', updatedAt: NOW - 1_000 }), task(2), task(3)];
    const out = run({ services: [updating()], tasks });
    const paused = ofType(out.commands, 'service.set-state');
    assert.equal(paused.length, 1);
    assert.equal(paused[0]!.state, 'PAUSED');
    assert.match(paused[0]!.reason ?? '', /update to version 2 failed: 1 of 3 new replicas failed.*container exited with code 3/);
    assert.deepEqual(shutdowns(out.commands).filter((id) => id !== tasks[0]!.id), [], 'the old replicas keep running');
  });

  test('failureAction rollback proposes the rollback with the reason', () => {
    const tasks = [fresh(1, { state: 'FAILED', error: 'container is unhealthy', updatedAt: NOW - 1_000 }), task(2), task(3)];
    const out = run({ services: [updating({ lifecycle: { update: { failureAction: 'rollback' } } })], tasks });
    const rollback = ofType(out.commands, 'service.rollback');
    assert.equal(rollback.length, 1);
    assert.match(rollback[0]!.reason, /1 of 3 new replicas failed.*unhealthy/);
    assert.deepEqual(creates(out.commands), []);
  });

  test('failures within maxFailureRatio, or with failureAction continue, let the update go on', () => {
    const tasks = [fresh(1, { state: 'FAILED', updatedAt: NOW - 1_000 }), fresh(2), task(3)];
    for (const update of [{ maxFailureRatio: 0.5 }, { failureAction: 'continue' as const }]) {
      const out = run({ services: [updating({ lifecycle: { update } })], tasks, updateParallelism: 2 });
      assert.deepEqual(stateChanges(out.commands), []);
      assert.equal(ofType(out.commands, 'service.rollback').length, 0);
    }
  });

  test('paused, start-first: a slot whose new replica failed keeps its old one and gets no other new one', () => {
    const old = [task(1), task(2), task(3)];
    const tasks = [...old, fresh(1, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 1_000 })];
    const out = run({ services: [updating({ state: 'PAUSED', lifecycle: { update: { order: 'start-first' } } })], tasks });
    assert.deepEqual(creates(out.commands), []);
    assert.deepEqual(shutdowns(out.commands), []);
    assert.deepEqual(stateChanges(out.commands), []);
  });

  test('one replica and pause: the update really pauses', () => {
    const tasks = [task(1, { desiredState: 'SHUTDOWN', state: 'SHUTDOWN' }), fresh(1, { state: 'FAILED', updatedAt: NOW - 1_000 })];
    const out = run({ services: [updating({ replicas: 1 })], tasks });
    assert.deepEqual(stateChanges(out.commands), ['PAUSED']);
  });

  test('progressDeadline: an update where nothing became healthy for that long takes its failure action', () => {
    const tasks = [fresh(1, { health: 'starting' }), task(2), task(3)];
    const service = updating({ lifecycle: { update: { progressDeadlineMs: 30_000, healthyDeadlineMs: 3_600_000 } } });
    const out = run({ services: [service], tasks });
    const paused = ofType(out.commands, 'service.set-state');
    assert.equal(paused[0]?.state, 'PAUSED');
    assert.match(paused[0]!.reason ?? '', /made no progress for 30s \(progressDeadline\)/);
  });

  test('healthyDeadline: a replica that never starts, or never becomes healthy, fails with the reason', () => {
    const stuck = task(1, { state: 'ASSIGNED', createdAt: NOW - 301_000, startedAt: null });
    const unhealthy = task(2, { health: 'starting', createdAt: NOW - 301_000 });
    const out = run({ services: [service({ state: 'DEPLOYING' })], tasks: [stuck, unhealthy, task(3)] });
    const failed = ofType(out.commands, 'task.observe').filter((c) => c.state === 'FAILED');
    assert.deepEqual(failed.map((c) => [c.taskId, c.error]), [
      [stuck.id, 'did not start (still ASSIGNED) within 5m (healthyDeadline)'],
      [unhealthy.id, 'did not become healthy within 5m (healthyDeadline)'],
    ]);
    assert.deepEqual(shutdowns(out.commands), [stuck.id, unhealthy.id].sort());
  });

  test('a replicas-only change (same spec version) restarts nothing', () => {
    const tasks = [task(1), task(2)];
    const out = run({ services: [service({ replicas: 3, specVersion: 1, state: 'DEPLOYING' })], tasks });
    assert.deepEqual(shutdowns(out.commands), []);
    assert.deepEqual(createdSlots(out.commands), [3]);
  });
});

describe('orchestrator: restart policy', () => {
  const ended = (slot: number, state: 'FAILED' | 'COMPLETE' | 'SHUTDOWN' | 'ORPHANED', agoMs = 120_000) =>
    task(slot, { state, desiredState: 'SHUTDOWN', updatedAt: NOW - agoMs, exitCode: state === 'COMPLETE' ? 0 : 1 });

  test('condition none: a replica that completed or failed is not replaced; one stopped or lost is', () => {
    const tasks = [ended(1, 'FAILED'), ended(2, 'COMPLETE'), ended(3, 'ORPHANED')];
    const out = run({ services: [service({ lifecycle: { restart: { condition: 'none' } } })], tasks });
    assert.deepEqual(createdSlots(out.commands), [3]);
  });

  test('condition on-failure: an exit 0 is COMPLETE and stays so; a failure is replaced', () => {
    const tasks = [ended(1, 'FAILED'), ended(2, 'COMPLETE'), task(3)];
    const out = run({ services: [service({ lifecycle: { restart: { condition: 'on-failure' } } })], tasks });
    assert.deepEqual(createdSlots(out.commands), [1]);
    const done = run({ services: [service({ lifecycle: { restart: { condition: 'on-failure' } } })], tasks: [task(1), ended(2, 'COMPLETE'), task(3)] });
    assert.deepEqual(stateChanges(done.commands), [], 'a service whose slots ended as asked is not DEGRADED');
  });

  test('maxAttempts: a slot that failed more times than that is given up', () => {
    const tasks = [ended(1, 'FAILED', 300_000), ended(1, 'FAILED', 200_000), ended(1, 'FAILED', 100_000), ended(2, 'FAILED', 100_000), ended(2, 'FAILED', 200_000), task(3)];
    const out = run({ services: [service({ lifecycle: { restart: { maxAttempts: 2 } } })], tasks });
    assert.deepEqual(createdSlots(out.commands), [2]);
  });

  test('maxAttempts counts only the failures within the window', () => {
    const tasks = [ended(1, 'FAILED', 300_000), ended(1, 'FAILED', 200_000), ended(1, 'FAILED', 100_000), task(2), task(3)];
    const out = run({ services: [service({ lifecycle: { restart: { maxAttempts: 2, windowMs: 150_000 } } })], tasks });
    assert.deepEqual(createdSlots(out.commands), [1]);
  });

  test('delay: a failed replica is replaced after the fixed delay instead of the back-off', () => {
    const tasks = [ended(1, 'FAILED', 1_000), task(2), task(3)];
    const out = run({ services: [service({ lifecycle: { restart: { delayMs: 3_000 } } })], tasks });
    assert.deepEqual(createdSlots(out.commands), []);
    assert.equal(out.wakeAt, NOW + 2_000);
  });

  test('a history long enough to count maxAttempts is kept per slot', () => {
    const tasks = [...Array.from({ length: 8 }, (_, i) => ended(1, 'FAILED', 100_000 + i * 1000)), task(2), task(3)];
    const out = run({ services: [service({ lifecycle: { restart: { maxAttempts: 7 } } })], tasks });
    assert.deepEqual(removals(out.commands), [], '8 failures, 8 kept (maxAttempts + 1)');
    assert.deepEqual(createdSlots(out.commands), [], 'given up: 8 failures > 7');
  });
});

describe('orchestrator: placement', () => {
  const zoned = () => [node('n1', { labels: { zone: 'a' } }), node('n2', { labels: { zone: 'a' } }), node('n3', { labels: { zone: 'b' } })];

  test('a global service gets one replica on every eligible node, created there; none where its constraints fail or the node is drained', () => {
    const nodes = [...zoned(), node('n4', { labels: { zone: 'a' }, availability: 'drain' })];
    const global = service({ mode: 'global', replicas: 0, state: 'DEPLOYING', placement: { constraints: ['node.labels.zone==a'] } });
    const out = run({ services: [global], tasks: [], nodes });
    assert.deepEqual(creates(out.commands).map((c) => [c.nodeId, c.slot]).sort(), [['n1', 0], ['n2', 0]]);
  });

  test('a global service gets no replica on a node with fewer CPUs or less memory than it reserves', () => {
    const facts = (cpus: number, gib: number) => ({ cpus, memoryBytes: gib * 2 ** 30, os: 'linux', arch: 'x86_64', engineVersion: '20.10.24' });
    const nodes = [node('n1', { facts: facts(2, 64) }), node('n2', { facts: facts(8, 4) }), node('n3', { facts: facts(8, 64) })];
    const global = service({ mode: 'global', replicas: 0, state: 'DEPLOYING', resources: { reservations: { cpus: 4, memoryBytes: 8 * 2 ** 30 } } });
    const out = run({ services: [global], tasks: [], nodes });
    assert.deepEqual(creates(out.commands).map((c) => c.nodeId), ['n3'], 'n1 has 2 CPUs, n2 4 GiB');
  });

  test('a global service follows its nodes: a relabelled node\'s replica stops, a new node gets one, a dead one is replaced on its node', () => {
    const tasks = [
      task(0, { nodeId: 'n1' }),
      task(0, { nodeId: 'n3' }),
      task(0, { nodeId: 'n2', state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 120_000 }),
    ];
    const global = service({ mode: 'global', replicas: 0, placement: { constraints: ['node.labels.zone==a'] } });
    const out = run({ services: [global], tasks, nodes: zoned() });
    assert.deepEqual(shutdowns(out.commands), [tasks[1]!.id], 'n3 is zone b now');
    assert.deepEqual(creates(out.commands).map((c) => c.nodeId), ['n2']);
  });

  test('changing constraints moves only the replicas that no longer fit', () => {
    const tasks = [task(1, { nodeId: 'n1' }), task(2, { nodeId: 'n2' }), task(3, { nodeId: 'n3' })];
    const out = run({ services: [service({ placement: { constraints: ['node.labels.zone==a'] } })], tasks, nodes: zoned() });
    assert.deepEqual(shutdowns(out.commands), [tasks[2]!.id]);
    assert.deepEqual(createdSlots(out.commands), [3]);
  });

  test('a lowered maxReplicasPerNode stops the extras on a node; they are placed elsewhere', () => {
    const tasks = [task(1, { nodeId: 'n1' }), task(2, { nodeId: 'n1' }), task(3, { nodeId: 'n2' })];
    const out = run({ services: [service({ placement: { maxReplicasPerNode: 1 } })], tasks, nodes: zoned() });
    assert.equal(shutdowns(out.commands).length, 1);
    assert.deepEqual(createdSlots(out.commands), [2]);
  });

  test('a scale-down with a spread preference stops replicas of the most crowded zone, not the highest slots', () => {
    // Zone a: slots 1, 2, 3 (n1, n2, n1); zone b: slot 4 (n3). Down to 2: two go from zone a, and slot 4 (zone b) is kept.
    const tasks = [task(1, { nodeId: 'n1' }), task(2, { nodeId: 'n2' }), task(3, { nodeId: 'n1' }), task(4, { nodeId: 'n3' })];
    const out = run({ services: [service({ replicas: 2, placement: { preferences: [{ spread: 'node.labels.zone' }] } })], tasks, nodes: zoned() });
    const stopped = new Set(shutdowns(out.commands));
    assert.equal(stopped.size, 2);
    assert.ok(!stopped.has(tasks[3]!.id), 'the only zone-b replica stays');
    const swaps = ofType(out.commands, 'task.set-slot');
    assert.ok(swaps.some((c) => c.taskId === tasks[3]!.id && c.slot <= 2), 'it takes over a slot within the new count');
  });
});

describe('orchestrator: service state', () => {
  test('a NEW service moves to DEPLOYING, decided from its current version', () => {
    const out = run({ services: [service({ state: 'NEW', version: 1 })], tasks: [] });
    const sets = ofType(out.commands, 'service.set-state');
    assert.deepEqual(sets.map((c) => [c.state, c.version]), [['DEPLOYING', 1]]);
  });

  test('a NEW service with zero replicas is converged at once: DEPLOYING then RUNNING, in that order', () => {
    const out = run({ services: [service({ state: 'NEW', version: 1, replicas: 0 })], tasks: [] });
    assert.deepEqual(stateChanges(out.commands), ['DEPLOYING', 'RUNNING']);
  });

  test('a DEPLOYING service becomes RUNNING once every slot has a running task of the current spec', () => {
    const out = run({ services: [service({ state: 'DEPLOYING', version: 7 })], tasks: [task(1), task(2), task(3)] });
    const sets = ofType(out.commands, 'service.set-state');
    assert.deepEqual(sets.map((c) => [c.state, c.version]), [['RUNNING', 7]]);
  });

  test('a DEPLOYING service stays DEPLOYING while tasks are still starting (no failures)', () => {
    const out = run({ services: [service({ state: 'DEPLOYING' })], tasks: [task(1), task(2, { state: 'STARTING' }), task(3, { state: 'ASSIGNED' })] });
    assert.deepEqual(stateChanges(out.commands), []);
  });

  test('a DEPLOYING service stays DEPLOYING until scaled-down tasks have actually stopped', () => {
    const tasks = [task(1), task(2, { desiredState: 'SHUTDOWN' })];
    const out = run({ services: [service({ state: 'DEPLOYING', replicas: 1 })], tasks });
    assert.deepEqual(stateChanges(out.commands), []);
  });

  test('a RUNNING service with a failed replica becomes DEGRADED', () => {
    const out = run({ services: [service()], tasks: [task(1), task(2, { state: 'FAILED', updatedAt: NOW - 50 }), task(3)] });
    assert.deepEqual(stateChanges(out.commands), ['DEGRADED']);
  });

  test('a DEPLOYING service whose tasks fail becomes DEGRADED', () => {
    const out = run({ services: [service({ state: 'DEPLOYING', replicas: 1 })], tasks: [task(1, { state: 'FAILED', updatedAt: NOW - 50 })] });
    assert.deepEqual(stateChanges(out.commands), ['DEGRADED']);
  });

  test('a DEGRADED service recovers to RUNNING once every slot runs again', () => {
    const tasks = [task(1), task(2), task(3), task(2, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 50 })];
    const out = run({ services: [service({ state: 'DEGRADED' })], tasks });
    assert.deepEqual(stateChanges(out.commands), ['RUNNING']);
  });
});

describe('orchestrator: deletion', () => {
  test('deleting shuts down every task still wanted RUNNING and moves the service to DELETING', () => {
    const tasks = [task(1), task(2, { desiredState: 'SHUTDOWN' }), task(3, { nodeId: null, state: 'NEW' })];
    const out = run({ services: [service({ state: 'DELETE', version: 9 })], tasks });
    assert.deepEqual(shutdowns(out.commands), [tasks[0]!.id, tasks[2]!.id].sort());
    assert.deepEqual(ofType(out.commands, 'service.set-state').map((c) => [c.state, c.version]), [['DELETING', 9]]);
    assert.deepEqual(ofType(out.commands, 'service.remove'), [], 'task 1 and 2 are still on their node');
    assert.deepEqual(creates(out.commands), [], 'a deleted service gets no new tasks');
  });

  test('a DELETING service is removed once all its tasks are terminal', () => {
    const tasks = [task(1, { state: 'SHUTDOWN', desiredState: 'SHUTDOWN' }), task(2, { state: 'FAILED', desiredState: 'SHUTDOWN' })];
    const out = run({ services: [service({ state: 'DELETING' })], tasks });
    assert.deepEqual(ofType(out.commands, 'service.remove').map((c) => c.name), ['web']);
  });

  test('a DELETING service is not removed while one task is still running on a live node', () => {
    const tasks = [task(1, { state: 'SHUTDOWN', desiredState: 'SHUTDOWN' }), task(2, { desiredState: 'SHUTDOWN' })];
    const out = run({ services: [service({ state: 'DELETING' })], tasks });
    assert.deepEqual(ofType(out.commands, 'service.remove'), []);
  });

  test('tasks never placed, or on a DOWN node, do not hold up the removal', () => {
    const tasks = [task(1, { nodeId: null, state: 'NEW', desiredState: 'SHUTDOWN' }), task(2, { nodeId: 'n2', desiredState: 'SHUTDOWN' })];
    const out = run({ services: [service({ state: 'DELETING' })], tasks, nodes: [node('n1'), node('n2', { status: 'DOWN' })] });
    assert.deepEqual(ofType(out.commands, 'service.remove').map((c) => c.name), ['web']);
  });

  test('a deleted service with no tasks goes DELETING and is removed in the same pass, in that order', () => {
    const out = run({ services: [service({ state: 'DELETE' })], tasks: [] });
    assert.deepEqual(
      out.commands.map((c) => c.type),
      ['service.set-state', 'service.remove'],
    );
  });
});

describe('orchestrator: history', () => {
  test('the newest 5 dead tasks of a slot are kept and older ones removed', () => {
    const dead = [1, 2, 3, 4, 5, 6, 7].map((i) => task(1, { state: 'SHUTDOWN', desiredState: 'SHUTDOWN', updatedAt: NOW - 3_600_000 + i * 1000 }));
    const out = run({ services: [service({ replicas: 1 })], tasks: [task(1), ...dead] });
    assert.deepEqual(removals(out.commands), [dead[0]!.id, dead[1]!.id].sort());
  });

  test('historyPerSlot changes how many dead tasks are kept', () => {
    const dead = [1, 2, 3].map((i) => task(1, { state: 'COMPLETE', desiredState: 'SHUTDOWN', updatedAt: NOW - 3_600_000 + i }));
    const out = run({ services: [service({ replicas: 1 })], tasks: [task(1), ...dead], historyPerSlot: 1 });
    assert.deepEqual(removals(out.commands), [dead[0]!.id, dead[1]!.id].sort());
  });

  test('dead tasks of slots above the replica count are all removed', () => {
    const dead = [task(2, { state: 'SHUTDOWN', desiredState: 'SHUTDOWN' }), task(3, { state: 'SHUTDOWN', desiredState: 'SHUTDOWN' })];
    const out = run({ services: [service({ replicas: 1 })], tasks: [task(1), ...dead] });
    assert.deepEqual(removals(out.commands), dead.map((t) => t.id).sort());
  });

  test('live tasks and dead tasks still wanted RUNNING are never pruned; the latter count toward the bound', () => {
    const dead = [1, 2, 3, 4, 5].map((i) => task(1, { state: 'SHUTDOWN', desiredState: 'SHUTDOWN', updatedAt: NOW - 3_600_000 + i }));
    const failedNow = task(1, { state: 'FAILED', updatedAt: NOW - 3_600_000 });
    const out = run({ services: [service({ replicas: 1 })], tasks: [...dead, failedNow] });
    // failedNow is shut down by this pass: 6 dead after it, so the oldest removable one goes and the slot keeps 5.
    assert.deepEqual(removals(out.commands), [dead[0]!.id]);
  });
});

describe('orchestrator: several services', () => {
  test('each service is orchestrated on its own tasks', () => {
    const api = service({ name: 'api', id: 'svc-api', replicas: 1, state: 'DEPLOYING' });
    const out = run({ services: [service({ replicas: 1 }), api], tasks: [task(1)] });
    assert.deepEqual(
      creates(out.commands).map((c) => [c.serviceName, c.slot]),
      [['api', 1]],
    );
  });
});

describe('orchestrator: rebalance (opt-in)', () => {
  const three = [node('n1'), node('n2'), node('n3')];
  // A node came back: all six replicas sit on n1 and n2, none on n3.
  const lopsided = () => [1, 2, 3].map((s) => task(s, { nodeId: 'n1' })).concat([4, 5, 6].map((s) => task(s, { nodeId: 'n2' })));

  test('without a request nothing moves', () => {
    const out = run({ services: [service({ replicas: 6 })], tasks: lopsided(), nodes: three });
    assert.deepEqual(creates(out.commands), []);
    assert.deepEqual(shutdowns(out.commands), []);
  });

  test('a requested rebalance moves replicas off the fullest nodes, at most updateParallelism at a time', () => {
    const tasks = lopsided();
    const out = run({ services: [service({ replicas: 6, rebalance: true })], tasks, nodes: three, updateParallelism: 2 });
    assert.equal(shutdowns(out.commands).length, 2);
    assert.equal(creates(out.commands).length, 2);
    const moved = tasks.filter((t) => shutdowns(out.commands).includes(t.id));
    assert.deepEqual(moved.map((t) => t.nodeId).sort(), ['n1', 'n2'], 'one from each of the two fullest nodes');
    assert.deepEqual(createdSlots(out.commands), moved.map((t) => t.slot).sort((a, b) => a - b), 'replacements keep their slots');
  });

  test('once even, the request is cleared', () => {
    const even = [1, 2].map((s) => task(s, { nodeId: 'n1' })).concat([3, 4].map((s) => task(s, { nodeId: 'n2' })), [5, 6].map((s) => task(s, { nodeId: 'n3' })));
    const out = run({ services: [service({ replicas: 6, rebalance: true })], tasks: even, nodes: three });
    assert.deepEqual(creates(out.commands), []);
    assert.deepEqual(ofType(out.commands, 'service.rebalance').map((c) => c.requested), [false]);
  });

  test('autoRebalance treats every service as asking', () => {
    const out = run({ services: [service({ replicas: 6 })], tasks: lopsided(), nodes: three, autoRebalance: true });
    assert.equal(creates(out.commands).length, 2);
  });

  test('nothing moves while the service is still converging', () => {
    const tasks = lopsided();
    tasks[0] = { ...tasks[0]!, state: 'STARTING' };
    const out = run({ services: [service({ replicas: 6, rebalance: true })], tasks, nodes: three });
    assert.deepEqual(creates(out.commands), []);
  });
});

describe('orchestrator: history bounds at scale', () => {
  test('a service keeps at most historyPerService dead tasks in all, the newest, besides failures inside the back-off window', () => {
    const old = Array.from({ length: 30 }, (_, i) => task((i % 10) + 1, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 3_600_000 + i }));
    const recent = [1, 2, 3].map((s) => task(s, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 1000 }));
    const live = Array.from({ length: 10 }, (_, i) => task(i + 1));
    const out = run({ services: [service({ replicas: 10 })], tasks: [...live, ...old, ...recent], historyPerService: 12 });
    const removed = new Set(removals(out.commands));
    // 33 dead, 3 of them recent: the 12 newest stay (the 3 recent and 9 old), the 21 oldest go.
    assert.equal(removed.size, 21);
    for (const t of recent) assert.equal(removed.has(t.id), false, 'a recent failure counts for the back-off and stays');
    for (const t of old.slice(21)) assert.equal(removed.has(t.id), false, 'the newest old ones stay');
    for (const t of live) assert.equal(removed.has(t.id), false);
  });

  test('recent failures beyond historyPerService are kept, so the back-off of a crash loop is not shortened', () => {
    const recent = Array.from({ length: 8 }, (_, i) => task(1, { state: 'FAILED', desiredState: 'SHUTDOWN', updatedAt: NOW - 5000 + i }));
    const out = run({ services: [service({ replicas: 1 })], tasks: recent, historyPerService: 2 });
    // The per-slot bound (5) still holds; the per-service one gives way to the back-off.
    assert.equal(removals(out.commands).length, 3);
    assert.equal(creates(out.commands).length, 0, 'the slot is still backing off (5 recent failures)');
  });

  test('the per-slot bound holds through a crash loop: each pass keeps at most 5 dead tasks per slot', () => {
    let tasks: TaskRecord[] = [];
    let now = NOW;
    for (let pass = 0; pass < 40; pass++) {
      now += 20_000;
      const out = run({ services: [service({ replicas: 2 })], tasks, now });
      const removed = new Set(removals(out.commands));
      const shut = new Set(out.commands.filter((c) => c.type === 'task.set-desired').map((c) => (c as { taskId: string }).taskId));
      tasks = tasks.filter((t) => !removed.has(t.id)).map((t) => (shut.has(t.id) ? { ...t, desiredState: 'SHUTDOWN' as const } : t));
      // Every new task fails at once (the image does not exist).
      for (const c of creates(out.commands)) tasks.push(task(c.slot, { id: c.id, state: 'FAILED', createdAt: now, updatedAt: now }));
      for (const slot of [1, 2]) {
        const dead = tasks.filter((t) => t.slot === slot && t.desiredState === 'SHUTDOWN');
        assert.ok(dead.length <= 5, `pass ${pass}: slot ${slot} keeps ${dead.length} dead tasks`);
      }
    }
    assert.ok(tasks.length <= 2 * 6, `${tasks.length} rows for 2 crash-looping slots`);
  });

  test('a deleted service gets no new task, whatever its slots lack', () => {
    const out = run({ services: [service({ state: 'DELETING', replicas: 10 })], tasks: [task(1, { state: 'FAILED' })] });
    assert.deepEqual(creates(out.commands), []);
  });
});
