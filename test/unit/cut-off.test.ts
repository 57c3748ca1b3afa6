import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideCutOff, splitCutOff, type CutOffInput } from '../../daemon/deployment/cut-off';
import type { OnDisconnect } from '../../database/on-disconnect';
import { effectiveOnDisconnect } from '../../database/on-disconnect';
import { taskRecord } from '../helpers/records';

const GRACE = 3000;
const START = 1_700_000_000_000;
const SETTINGS: Record<string, OnDisconnect> = { web: 'stop', worker: 'keep' };
const TASKS = [
  taskRecord('web', 1, { id: 'web-1', nodeId: 'n1', state: 'RUNNING' }),
  taskRecord('web', 2, { id: 'web-2', nodeId: 'n1', state: 'RUNNING' }),
  taskRecord('worker', 1, { id: 'worker-1', nodeId: 'n1', state: 'RUNNING' }),
  taskRecord('gone', 1, { id: 'gone-1', nodeId: 'n1', state: 'RUNNING' }),
];

/** A node's view at `now`, driven by an injected clock: it started at START and last heard from a leader at `heard`. */
function decide(now: number, heard: number | null, overrides: Partial<CutOffInput> = {}) {
  return decideCutOff({
    leaderContactAt: heard,
    since: START,
    now,
    graceMs: GRACE,
    tasks: TASKS,
    onDisconnect: (name) => SETTINGS[name],
    ...overrides,
  });
}

describe('cut off from the leader: which replicas this node stops', () => {
  test('within the grace nothing is stopped; the moment the silence exceeds it, the stop services\' tasks are', () => {
    const heard = START + 10_000;
    for (const now of [heard, heard + 1000, heard + GRACE]) {
      const d = decide(now, heard);
      assert.equal(d.cutOff, false, `at +${now - heard} ms`);
      assert.deepEqual([...d.stop], []);
    }
    const d = decide(heard + GRACE + 1, heard);
    assert.equal(d.cutOff, true);
    assert.equal(d.silentMs, GRACE + 1);
    assert.deepEqual([...d.stop].sort(), ['web-1', 'web-2']);
  });

  test('keep services run on, and a task of a service this node does not know is left alone', () => {
    const d = decide(START + 60_000, START);
    assert.ok(!d.stop.has('worker-1'));
    assert.ok(!d.stop.has('gone-1'));
  });

  test('hearing from a leader again ends it at once: nothing is stopped', () => {
    const heard = START + 10_000;
    assert.equal(decide(heard + 20_000, heard).cutOff, true);
    const d = decide(heard + 20_000, heard + 20_000);
    assert.equal(d.cutOff, false);
    assert.equal(d.stop.size, 0);
    assert.equal(d.cutOffAt, heard + 20_000 + GRACE);
  });

  test('a node that just started gets the whole grace from its start, whatever contact time an earlier life left behind', () => {
    const staleFromEarlierLife = START - 3_600_000;
    assert.equal(decide(START + GRACE, staleFromEarlierLife).cutOff, false);
    assert.equal(decide(START + GRACE, null).cutOff, false);
    assert.equal(decide(START + GRACE + 1, staleFromEarlierLife).cutOff, true);
    assert.equal(decide(START + GRACE + 1, null).cutOffAt, START + GRACE);
  });

  test('a contact time ahead of the clock (set by another thread a moment later) counts as silence zero', () => {
    const d = decide(START + 5000, START + 5100);
    assert.equal(d.silentMs, 0);
    assert.equal(d.cutOff, false);
  });

  test('the grace is the configured one: a longer grace waits longer', () => {
    const heard = START;
    assert.equal(decide(heard + 5000, heard, { graceMs: 10_000 }).cutOff, false);
    assert.equal(decide(heard + 10_001, heard, { graceMs: 10_000 }).cutOff, true);
  });
});

describe('onDisconnect: the default rule', () => {
  const port = { published: 8080, target: 80, protocol: 'tcp' as const, mode: 'ingress' as const, proxy: 'none' as const };
  test('stop for a service with published ports, keep for one without', () => {
    assert.equal(effectiveOnDisconnect(null, [port]), 'stop');
    assert.equal(effectiveOnDisconnect(undefined, []), 'keep');
  });
  test('a setting given wins over the default either way', () => {
    assert.equal(effectiveOnDisconnect('keep', [port]), 'keep');
    assert.equal(effectiveOnDisconnect('stop', []), 'stop');
  });
});

describe('cut off from the leader: the containers a pass removes', () => {
  const containers = [
    { id: 'c-web-1', taskId: 'web-1' },
    { id: 'c-web-2', taskId: 'web-2' },
    { id: 'c-worker-1', taskId: 'worker-1' },
    { id: 'c-unlabelled', taskId: null },
  ];
  test('the stopped tasks\' containers are removed, the rest reconciled as usual; a busy one is left to its action', () => {
    const { remove, rest } = splitCutOff(containers, new Set(['web-1', 'web-2']), new Set(['c-web-2']));
    assert.deepEqual(remove.map((c) => c.id), ['c-web-1']);
    assert.deepEqual(rest.map((c) => c.id), ['c-worker-1', 'c-unlabelled']);
  });
  test('not cut off: every container goes to the usual reconcile', () => {
    const { remove, rest } = splitCutOff(containers, new Set(), new Set());
    assert.deepEqual(remove, []);
    assert.equal(rest.length, 4);
  });
});
