import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Db } from '../../database/open-database';
import { listTasks, type TaskRecord } from '../../database/queries';
import { Agent } from '../../daemon/deployment/agent';
import { LABELS } from '../../daemon/docker-client';
import { Loop } from '../../daemon/deployment/loop';
import { MemoryRuntime } from '../helpers/memory-runtime';
import { waitFor } from '../helpers/wait';
import { AT, apply, applyingPropose, clusterDb, flatten, quiet, simpleSpec } from '../helpers/shell-db';

/**
 * The agent's shell over a real database (a temp dir) and the in-memory
 * engine: it converges the engine to the tasks assigned to this node and
 * reports what it observed through propose, which applies each command as
 * the leader would. What is checked is what `service ps` and the engine
 * show: task states, errors, containers.
 */
const NODES = [{ id: 'n1', name: 'host-1' }, { id: 'n2', name: 'host-2' }];
let opened: { db: Db; close(): void } | undefined;
afterEach(() => {
  opened?.close();
  opened = undefined;
});

/** Service `name` with one task per entry of `nodes` (slot order), created and assigned as the leader would. */
function serviceWithTasks(db: Db, name: string, image: string, nodes: readonly string[], extra: Parameters<typeof simpleSpec>[1] = {}): string[] {
  apply(db, { type: 'service.create', id: `svc-${name}`, name, spec: simpleSpec(image, extra), replicas: nodes.length, at: AT });
  return nodes.map((nodeId, i) => {
    const id = `${name}-t${i + 1}`;
    apply(db, { type: 'task.create', id, serviceName: name, slot: i + 1, specVersion: 1, at: AT });
    apply(db, { type: 'task.assign', taskId: id, nodeId, at: AT });
    return id;
  });
}

function setUp(options: { images?: string[] } = {}) {
  opened = clusterDb(NODES, 'n1');
  const { db } = opened;
  let clock = AT + 60_000;
  const now = () => (clock += 1000);
  const runtime = new MemoryRuntime({ images: options.images ?? [], now });
  const { propose, proposed } = applyingPropose(db);
  const agent = new Agent({
    db, runtime, nodeId: 'n1', propose, log: quiet, concurrency: 2, stopGracePeriodMs: 7000, hostGraceMs: 3_600_000, now,
    wake: () => undefined,
  });
  /** One pass and the actions it started, to the end. */
  const converge = async () => {
    await agent.pass();
    await agent.drain();
  };
  const task = (id: string): TaskRecord => listTasks(db).find((t) => t.id === id)!;
  return { db, runtime, agent, proposed, converge, task };
}

describe('the agent converges this node\'s engine to the tasks assigned here', () => {
  test('one running container per task assigned here, each task reported RUNNING with its container; none for another node\'s task', async () => {
    const { db, runtime, converge, task, proposed } = setUp({ images: ['web:1'] });
    const ids = serviceWithTasks(db, 'web', 'web:1', ['n1', 'n1', 'n2']);
    await converge();

    const running = runtime.running();
    assert.deepEqual(running.map((c) => c.spec.name).sort(), ['web.1.web-t1', 'web.2.web-t2']);
    for (const c of running) {
      assert.equal(c.spec.labels[LABELS.cluster], 'cl-test');
      assert.equal(c.spec.labels[LABELS.node], 'n1');
      assert.equal(c.spec.labels[LABELS.service], 'web');
    }
    for (const id of ids.slice(0, 2)) {
      const t = task(id);
      const container = running.find((c) => c.spec.labels[LABELS.task] === id)!;
      assert.equal(t.state, 'RUNNING', id);
      assert.equal(t.containerId, container.id);
      assert.equal(t.startedAt, container.startedAt, 'the start time is the engine\'s');
      assert.equal(t.error, null);
    }
    assert.equal(task(ids[2]!).state, 'ASSIGNED', 'host-2\'s task is not this agent\'s');
    assert.deepEqual(runtime.pulls, [], 'an image the engine has is not pulled');

    // Converged: a pass finds nothing to do and proposes nothing.
    const before = proposed.length;
    const created = runtime.events.filter((e) => e.action === 'create').length;
    await converge();
    assert.equal(proposed.length, before);
    assert.equal(runtime.events.filter((e) => e.action === 'create').length, created);
  });

  test('a missing image is pulled before the container is made', async () => {
    const { db, runtime, converge, task } = setUp();
    const [id] = serviceWithTasks(db, 'api', 'api:2', ['n1']);
    await converge();
    assert.deepEqual(runtime.pulls, ['api:2']);
    assert.equal(task(id!).state, 'RUNNING');
  });

  test('an image that cannot be pulled: the task is FAILED, its error naming the image and the engine\'s reason; no container is left', async () => {
    const { db, runtime, converge, task } = setUp();
    runtime.failPull('private/app:1', 'pull access denied for private/app');
    const [id] = serviceWithTasks(db, 'app', 'private/app:1', ['n1']);
    await converge();
    const t = task(id!);
    assert.equal(t.state, 'FAILED');
    assert.match(t.error!, /image private\/app:1 is not on this node and could not be pulled: pull access denied for private\/app/);
    assert.deepEqual(runtime.all(), []);
  });

  test('a container the engine cannot create or start: the task is FAILED with the engine\'s reason', async () => {
    const { db, runtime, converge, task } = setUp({ images: ['full:1', 'broken:1'] });
    runtime.failCreate('full:1', 'no space left on device');
    runtime.failStart('broken:1', 'exec format error');
    const [full] = serviceWithTasks(db, 'full', 'full:1', ['n1']);
    const [broken] = serviceWithTasks(db, 'broken', 'broken:1', ['n1']);
    await converge();
    assert.equal(task(full!).state, 'FAILED');
    assert.equal(task(full!).error, 'cannot create the container: no space left on device');
    assert.equal(task(broken!).state, 'FAILED');
    assert.equal(task(broken!).error, 'cannot start the container: exec format error');
    assert.equal(task(broken!).containerId, runtime.all()[0]!.id, 'the container that would not start is named');

    // An ended task's container goes at the next pass.
    await converge();
    assert.deepEqual(runtime.all(), []);
  });

  test('a container that exits: FAILED with its exit code (COMPLETE for 0), then removed', async () => {
    const { db, runtime, converge, task } = setUp({ images: ['job:1'] });
    const [crash, done] = serviceWithTasks(db, 'job', 'job:1', ['n1', 'n1']);
    await converge();
    const containerOf = (id: string) => runtime.running().find((c) => c.spec.labels[LABELS.task] === id)!.id;
    runtime.exit(containerOf(crash!), 137);
    runtime.exit(containerOf(done!), 0);
    await converge();
    assert.equal(task(crash!).state, 'FAILED');
    assert.equal(task(crash!).exitCode, 137);
    assert.equal(task(crash!).error, 'container exited with code 137');
    assert.equal(task(done!).state, 'COMPLETE');
    assert.equal(task(done!).error, null);
    await converge();
    assert.deepEqual(runtime.all(), []);
  });

  test('a container its health check calls unhealthy: the task is FAILED with what the check printed', async () => {
    const { db, runtime, converge, task } = setUp({ images: ['web:1'] });
    const [id] = serviceWithTasks(db, 'web', 'web:1', ['n1']);
    await converge();
    runtime.setHealth(task(id!).containerId!, 'unhealthy', 'curl: (7) connection refused');
    await converge();
    assert.equal(task(id!).state, 'FAILED');
    assert.equal(task(id!).health, 'unhealthy');
    assert.equal(task(id!).error, 'container is unhealthy: curl: (7) connection refused');
  });

  test('a task shut down: its container is stopped within the grace period and removed, the task SHUTDOWN', async () => {
    const { db, runtime, converge, task } = setUp({ images: ['web:1', 'slow:1'] });
    const [web] = serviceWithTasks(db, 'web', 'web:1', ['n1']);
    const [slow] = serviceWithTasks(db, 'slow', 'slow:1', ['n1'], { stopGracePeriodMs: 30_000 });
    await converge();
    const containers = { web: task(web!).containerId!, slow: task(slow!).containerId! };
    apply(db, { type: 'task.set-desired', taskId: web!, desiredState: 'SHUTDOWN', at: AT + 1 });
    apply(db, { type: 'task.set-desired', taskId: slow!, desiredState: 'SHUTDOWN', at: AT + 1 });
    await converge();
    assert.equal(task(web!).state, 'SHUTDOWN');
    assert.equal(task(slow!).state, 'SHUTDOWN');
    assert.deepEqual(runtime.all(), []);
    assert.equal(runtime.removals.get(containers.web), 7000, 'the node\'s grace period');
    assert.equal(runtime.removals.get(containers.slow), 30_000, 'the service\'s own stopGracePeriod');
    const actions = runtime.events.filter((e) => e.containerId === containers.web).map((e) => e.action);
    assert.deepEqual(actions, ['create', 'start', 'die', 'stop', 'destroy']);
  });

  test('a restarted agent adopts the containers it finds, makes none twice, and removes one that only copies a task\'s labels', async () => {
    const first = setUp({ images: ['web:1'] });
    const { db, runtime } = first;
    const ids = serviceWithTasks(db, 'web', 'web:1', ['n1', 'n1']);
    await first.converge();
    const containers = runtime.running().map((c) => c.id).sort();
    // Someone made a container with the first task's labels but another name.
    const impostor = await runtime.planted({
      name: 'not-bicycles', image: 'web:1', command: null, env: {},
      labels: { [LABELS.cluster]: 'cl-test', [LABELS.node]: 'n1', [LABELS.service]: 'web', [LABELS.task]: ids[0]! },
    });

    const { propose, proposed } = applyingPropose(db);
    const restarted = new Agent({
      db, runtime, nodeId: 'n1', propose, log: quiet, concurrency: 2, stopGracePeriodMs: 7000, hostGraceMs: 3_600_000, wake: () => undefined,
    });
    await restarted.pass();
    await restarted.drain();
    assert.deepEqual(runtime.running().map((c) => c.id).sort(), containers, 'the same containers run, the impostor is gone');
    assert.equal(runtime.all().some((c) => c.id === impostor), false);
    for (const id of ids) assert.equal(first.task(id).state, 'RUNNING');
    assert.deepEqual(flatten(proposed).filter((c) => c.type === 'task.observe'), [], 'nothing changed that needed a report');
  });

  test('a container of this node that no task wants is removed', async () => {
    const { runtime, converge } = setUp({ images: ['old:1'] });
    await runtime.planted({
      name: 'gone.1.t-old', image: 'old:1', command: null, env: {},
      labels: { [LABELS.cluster]: 'cl-test', [LABELS.node]: 'n1', [LABELS.service]: 'gone', [LABELS.task]: 't-old' },
    });
    const elsewhere = await runtime.planted({
      name: 'other.1.t-x', image: 'old:1', command: null, env: {},
      labels: { [LABELS.cluster]: 'another-cluster', [LABELS.node]: 'n1', [LABELS.task]: 't-x' },
    });
    await converge();
    assert.deepEqual(runtime.all().map((c) => c.id), [elsewhere], 'only another cluster\'s container is left alone');
  });
});

describe('the in-memory engine\'s events', () => {
  test('a watcher with this node\'s labels hears its containers start, die and go, and its onError when the stream breaks', async () => {
    const { db, runtime, agent, converge, task } = setUp({ images: ['web:1'] });
    const [id] = serviceWithTasks(db, 'web', 'web:1', ['n1']);
    const heard: string[] = [];
    const broke: string[] = [];
    await runtime.watch(agent.labels()!, (e) => heard.push(e.action), (e) => broke.push(e.message));
    await runtime.planted({ name: 'x', image: 'web:1', command: null, env: {}, labels: { [LABELS.cluster]: 'another-cluster' } });
    await converge();
    runtime.exit(task(id!).containerId!, 1);
    await converge(); // FAILED
    await converge(); // removed
    assert.deepEqual(heard, ['create', 'start', 'die', 'destroy'], 'another cluster\'s container is not heard');
    runtime.breakWatches();
    assert.deepEqual(broke, ['the engine closed the event stream']);
  });
});

describe('the agent in its loop, woken by the engine\'s events as the deployment thread wires them', () => {
  test('a container that dies is reported FAILED without waiting for the resync, and a replacement task is started', async () => {
    opened = clusterDb(NODES, 'n1');
    const { db } = opened;
    const runtime = new MemoryRuntime({ images: ['web:1'] });
    const applying = applyingPropose(db);
    let loop: Loop | undefined;
    /** A committed command's change note ("changed: tasks") wakes the agent's loop, as the voting thread's does. */
    const noted = (command: Parameters<typeof applying.propose>[0]) => {
      apply(db, command);
      loop?.wake();
    };
    const agent = new Agent({
      db, runtime, nodeId: 'n1', log: quiet, concurrency: 2, stopGracePeriodMs: 0, hostGraceMs: 3_600_000,
      propose: async (command) => {
        const result = await applying.propose(command);
        loop?.wake();
        return result;
      },
      wake: () => loop!.wake(),
    });
    // A resync an hour away: only a wake-up can make the passes this test waits for.
    loop = new Loop('agent', () => agent.pass(), quiet, { resyncIntervalMs: 3_600_000 });
    const unwatch = await runtime.watch(agent.labels()!, (event) => {
      if (['die', 'stop', 'destroy', 'start'].includes(event.action)) loop!.wake();
    }, () => loop!.wake());
    const [id] = serviceWithTasks(db, 'web', 'web:1', ['n1']);
    const task = (taskId: string) => listTasks(db).find((t) => t.id === taskId)!;
    loop.start();
    const until = <T>(what: string, check: () => T | undefined | false) => waitFor(what, check, 10_000, 5);
    try {
      await until('the task RUNNING', () => task(id!).state === 'RUNNING');
      runtime.exit(task(id!).containerId!, 2);
      await until('the task FAILED', () => task(id!).state === 'FAILED');
      assert.equal(task(id!).error, 'container exited with code 2');
      await until('its container removed', () => runtime.all().length === 0);

      // The orchestrator's replacement, assigned here: its commit's note wakes the agent.
      noted({ type: 'batch', commands: [
        { type: 'task.create', id: 'web-t2', serviceName: 'web', slot: 1, specVersion: 1, at: AT + 1 },
        { type: 'task.assign', taskId: 'web-t2', nodeId: 'n1', at: AT + 1 },
      ] });
      await until('the replacement RUNNING', () => task('web-t2').state === 'RUNNING');
      assert.deepEqual(runtime.running().map((c) => c.spec.name), ['web.1.web-t2']);
    } finally {
      unwatch();
      await loop.stop();
      await agent.drain();
    }
  });
});
