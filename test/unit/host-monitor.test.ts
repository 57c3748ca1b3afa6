import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { detectHostChanges } from '../../daemon/voting/host-monitor';
import { managerWarnings } from '../../database/node-state';
import type { NodeRecord } from '../../database/queries';

const NOW = 1_700_000_000_000;
const node = (id: string, status: NodeRecord['status'] = 'READY'): NodeRecord => ({
  id, name: id, address: `${id}:7070`, role: 'manager', status, availability: 'active', link: 'raft',
  startedAt: NOW - 60_000, lastSeenAt: NOW - 60_000, labels: {}, facts: null, createdAt: NOW - 60_000, updatedAt: NOW - 60_000,
});
const statuses = (commands: ReturnType<typeof detectHostChanges>) =>
  commands.map((c) => (c.type === 'node.set-status' ? `${c.nodeId}:${c.status}` : c.type));

describe('host-loss detection on the leader', () => {
  test('a node silent for longer than the grace goes DOWN; one heard within it stays READY', () => {
    const out = detectHostChanges({
      nodes: [node('leader'), node('quiet'), node('chatty')],
      selfId: 'leader',
      lastContact: new Map([['quiet', NOW - 3001], ['chatty', NOW - 100]]),
      leaderSince: NOW - 60_000,
      now: NOW,
      graceMs: 3000,
    });
    assert.deepEqual(statuses(out), ['quiet:DOWN']);
  });

  test('a new leader gives every node the whole grace from its election', () => {
    const out = detectHostChanges({
      nodes: [node('leader'), node('unheard')],
      selfId: 'leader',
      lastContact: new Map(),
      leaderSince: NOW - 2000,
      now: NOW,
      graceMs: 3000,
    });
    assert.deepEqual(statuses(out), []);
  });

  test('a DOWN node heard from again is READY', () => {
    const out = detectHostChanges({
      nodes: [node('leader'), node('back', 'DOWN'), node('still-gone', 'DOWN')],
      selfId: 'leader',
      lastContact: new Map([['back', NOW - 50]]),
      leaderSince: NOW - 60_000,
      now: NOW,
      graceMs: 3000,
    });
    assert.deepEqual(statuses(out), ['back:READY']);
  });

  test('the leader itself is always READY', () => {
    const out = detectHostChanges({ nodes: [node('leader', 'DOWN')], selfId: 'leader', lastContact: new Map(), leaderSince: NOW, now: NOW, graceMs: 3000 });
    assert.deepEqual(statuses(out), ['leader:READY']);
  });
});

describe('manager-count warnings', () => {
  const nodes = (managers: number, workers = 0) =>
    [...Array(managers).fill({ role: 'manager' }), ...Array(workers).fill({ role: 'worker' })] as Array<{ role: 'manager' | 'worker' }>;

  test('one node alone, three or five managers: no warning', () => {
    assert.deepEqual(managerWarnings(nodes(1)), []);
    assert.deepEqual(managerWarnings(nodes(3, 4)), []);
    assert.deepEqual(managerWarnings(nodes(5)), []);
  });

  test('one manager among several nodes, two managers, or an even number: a warning saying what to run', () => {
    assert.match(managerWarnings(nodes(1, 2))[0]!, /1 manager.*run 3 or 5/);
    assert.match(managerWarnings(nodes(2))[0]!, /2 managers.*no majority/);
    assert.match(managerWarnings(nodes(4))[0]!, /4 managers.*odd number/);
  });
});
