import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiClient } from '../../../cli/api-client';
import { pollUntil, waitForDrain, waitForRebalance, waitForService, WaitTimeoutError, type WaitDeps } from '../../../cli/wait';
import type { Service } from '../../../cli/types';
import { service, task } from './fixtures';

/** A fake clock: sleeping advances time at once. */
function fakeDeps(): WaitDeps & { lines: string[]; now: number } {
  const deps = {
    now: 0,
    lines: [] as string[],
    nowMs: () => deps.now,
    sleep: async (ms: number) => {
      deps.now += ms;
    },
    report: (line: string) => deps.lines.push(line),
  };
  return deps;
}

/** A client whose getService answers the given snapshots in turn, then the last forever. */
function scriptedClient(snapshots: Service[]): ApiClient {
  let i = 0;
  return { getService: async () => snapshots[Math.min(i++, snapshots.length - 1)]! } as unknown as ApiClient;
}

describe('pollUntil', () => {
  it('reports a line only when it changes', async () => {
    const deps = fakeDeps();
    const values = [1, 1, 2, 2, 2, 3];
    let i = 0;
    const result = await pollUntil(
      { poll: async () => values[i++]!, done: (v) => v === 3, describe: (v) => `at ${v}`, timeoutMs: 10_000 },
      deps,
    );
    assert.deepEqual(result, { done: true, last: 3 });
    assert.deepEqual(deps.lines, ['at 1', 'at 2', 'at 3']);
    assert.equal(deps.now, 5 * 250);
  });

  it('gives up at the deadline with the last value', async () => {
    const deps = fakeDeps();
    const result = await pollUntil(
      { poll: async () => 'x', done: () => false, describe: (v) => v, timeoutMs: 1000, intervalMs: 300 },
      deps,
    );
    assert.deepEqual(result, { done: false, last: 'x' });
    assert.equal(deps.now, 1000);
  });
});

describe('waitForService', () => {
  it('returns the converged service, having shown progress', async () => {
    const deps = fakeDeps();
    const starting = service({ replicas: 2, running: 0, tasks: [task({ state: 'STARTING' }), task({ slot: 2, state: 'NEW' })] });
    const half = service({ replicas: 2, running: 1, tasks: [task(), task({ slot: 2, state: 'STARTING' })] });
    const done = service({ replicas: 2, running: 2, tasks: [task(), task({ slot: 2 })] });
    const got = await waitForService(scriptedClient([starting, half, half, done]), 'web', 120, deps);
    assert.equal(got.running, 2);
    assert.deepEqual(deps.lines, ['web: 0/2 running', 'web: 1/2 running', 'web: 2/2 running']);
  });

  it('times out saying what is pending', async () => {
    const deps = fakeDeps();
    const stuck = service({ replicas: 2, running: 1, state: 'DEGRADED', tasks: [task(), task({ slot: 2, state: 'FAILED', error: 'no such image' })] });
    await assert.rejects(waitForService(scriptedClient([stuck]), 'web', 5, deps), (err: Error) => {
      assert.ok(err instanceof WaitTimeoutError);
      assert.match(err.message, /web did not converge within 5s \(1\/2 running, state DEGRADED\)/);
      assert.match(err.message, /web\.2 on node-a: FAILED, want RUNNING \(1 failed attempt\): no such image/);
      return true;
    });
    assert.equal(deps.now, 5000);
  });
});

/** A client whose listServices answers the given snapshots in turn, then the last forever. */
function scriptedLister(snapshots: Service[][]): ApiClient {
  let i = 0;
  const next = async () => snapshots[Math.min(i++, snapshots.length - 1)]!;
  return { listServices: next, listServicesWithTasks: next } as unknown as ApiClient;
}

describe('waitForDrain', () => {
  const node = { id: 'n-3', name: 'host-3' };
  const on3 = { nodeId: 'n-3', node: 'host-3' };

  it('waits until the node runs nothing, showing what is left', async () => {
    const deps = fakeDeps();
    const full = [service({ replicas: 2, tasks: [task(on3), task({ ...on3, slot: 2 })] })];
    const stopping = [service({ replicas: 2, tasks: [task({ ...on3, desiredState: 'SHUTDOWN' }), task({ ...on3, slot: 2, desiredState: 'SHUTDOWN', state: 'SHUTDOWN' })] })];
    const empty = [service({ replicas: 2, tasks: [task({ nodeId: 'n-1', node: 'host-1' }), task({ slot: 2, nodeId: null, node: null, state: 'NEW' })] })];
    await waitForDrain(scriptedLister([full, stopping, empty]), node, 120, deps);
    assert.deepEqual(deps.lines, ['host-3: 2 replicas still to move', 'host-3: 1 replica stopping', 'host-3: drained']);
    assert.equal(deps.now, 2 * 250);
  });

  it('times out naming the tasks left', async () => {
    const deps = fakeDeps();
    const stuck = [service({ tasks: [task(on3)] })];
    await assert.rejects(waitForDrain(scriptedLister([stuck]), node, 3, deps), (err: Error) => {
      assert.ok(err instanceof WaitTimeoutError);
      assert.match(err.message, /^host-3 was not drained within 3s \(1 replica still to move\)\n  web\.1 on host-3: RUNNING, still to move\n/);
      return true;
    });
    assert.equal(deps.now, 3000);
  });
});

describe('waitForRebalance', () => {
  it('waits until the daemon clears rebalancing', async () => {
    const deps = fakeDeps();
    const moving = service({ rebalancing: true, replicas: 2, running: 1, tasks: [task({ node: 'host-1' }), task({ slot: 2, node: 'host-2', state: 'STARTING' })] });
    const even = { ...moving, rebalancing: false, running: 2, tasks: [task({ node: 'host-1' }), task({ slot: 2, node: 'host-2' })] };
    const got = await waitForRebalance(scriptedClient([moving, even]), 'web', 120, deps);
    assert.equal(got.rebalancing, false);
    assert.deepEqual(deps.lines, ['web: rebalancing, 1/2 running (host-1 1, host-2 1)', 'web: balanced, 2/2 running (host-1 1, host-2 1)']);
  });

  it('is done at once when the daemon does not say it rebalances', async () => {
    const deps = fakeDeps();
    await waitForRebalance(scriptedClient([service()]), 'web', 120, deps);
    assert.equal(deps.now, 0);
  });

  it('times out saying the daemon keeps trying', async () => {
    const deps = fakeDeps();
    await assert.rejects(waitForRebalance(scriptedClient([service({ rebalancing: true })]), 'web', 2, deps), (err: Error) => {
      assert.ok(err instanceof WaitTimeoutError);
      assert.match(err.message, /^web did not finish rebalancing within 2s \(1\/1 running, state RUNNING\)\n/);
      return true;
    });
  });
});
