import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nextMembershipStep, planRemoval, roleChangeRefusal, transferTarget, type MemberFacts } from '../../daemon/voting/membership';

const leader: MemberFacts = { id: 'a1', name: 'host-1', role: 'manager', status: 'READY' };
const progress = (entries: Record<string, number>) => new Map(Object.entries(entries).map(([id, match]) => [id, { match }]));

describe('membership: managers vote once caught up, workers only learn', () => {
  test('a manager that is a learner becomes a voter once it is READY and has caught up to the commit index', () => {
    const joiner: MemberFacts = { id: 'b2', name: 'host-2', role: 'manager', status: 'READY' };
    const conf = { voters: ['a1'], learners: ['b2'] };
    assert.equal(nextMembershipStep([leader, joiner], { conf, commit: 10, progress: progress({ a1: 10, b2: 9 }) }, 'a1'), null, 'not while it lags');
    assert.equal(nextMembershipStep([leader, { ...joiner, status: 'DOWN' }], { conf, commit: 10, progress: progress({ a1: 10, b2: 10 }) }, 'a1'), null, 'not while it is lost');
    assert.deepEqual(nextMembershipStep([leader, joiner], { conf, commit: 10, progress: progress({ a1: 10, b2: 10 }) }, 'a1'), {
      change: { type: 'addVoter', nodeId: 'b2' },
      target: 'host-2',
      log: 'promoted to voter',
    });
  });

  test('a worker stays a learner; a demoted worker leaves the voters; a worker outside the configuration comes back as a learner', () => {
    const worker: MemberFacts = { id: 'w9', name: 'host-9', role: 'worker', status: 'READY' };
    const view = (voters: string[], learners: string[]) => ({ conf: { voters, learners }, commit: 5, progress: progress({ a1: 5, w9: 5 }) });
    assert.equal(nextMembershipStep([leader, worker], view(['a1'], ['w9']), 'a1'), null);
    assert.deepEqual(nextMembershipStep([leader, worker], view(['a1', 'w9'], []), 'a1')?.change, { type: 'removeNode', nodeId: 'w9' });
    assert.deepEqual(nextMembershipStep([leader, worker], view(['a1'], []), 'a1')?.change, { type: 'addLearner', nodeId: 'w9' });
  });

  test('a session worker is never added to the configuration: it hears of its tasks from a manager, not from the log', () => {
    const worker: MemberFacts = { id: 's1', name: 'sim-1', role: 'worker', status: 'READY', link: 'session' };
    assert.equal(nextMembershipStep([leader, worker], { conf: { voters: ['a1'], learners: [] }, commit: 5, progress: progress({ a1: 5 }) }, 'a1'), null);
  });

  test('the leader itself, even when its row says worker, does not leave the voters while it leads', () => {
    const demoted: MemberFacts = { ...leader, role: 'worker' };
    assert.equal(nextMembershipStep([demoted], { conf: { voters: ['a1'], learners: [] }, commit: 1, progress: progress({ a1: 1 }) }, 'a1'), null);
  });

  test('one change at a time: the first member in order that needs one', () => {
    const m2: MemberFacts = { id: 'b2', name: 'host-2', role: 'manager', status: 'READY' };
    const m3: MemberFacts = { id: 'c3', name: 'host-3', role: 'manager', status: 'READY' };
    const step = nextMembershipStep([leader, m2, m3], { conf: { voters: ['a1'], learners: ['b2', 'c3'] }, commit: 4, progress: progress({ a1: 4, b2: 4, c3: 4 }) }, 'a1');
    assert.equal(step?.target, 'host-2');
  });
});

describe('membership: removals and demotions the leader refuses', () => {
  test('the leader is not removed by itself; another member is, first out of the configuration when it is in it', () => {
    const refused = planRemoval({ id: 'a1', name: 'host-1' }, { voters: ['a1'], learners: [] }, 'a1');
    assert.ok(!refused.ok);
    assert.equal(refused.error.code, 'INVALID_ARGUMENT');
    assert.match(refused.error.message, /host-1 is the leader; stop it \(leadership moves\) or remove it from another node/);
    assert.deepEqual(planRemoval({ id: 'b2', name: 'host-2' }, { voters: ['a1', 'b2'], learners: [] }, 'a1'), { ok: true, leavesConf: true });
    assert.deepEqual(planRemoval({ id: 'w9', name: 'host-9' }, { voters: ['a1'], learners: ['w9'] }, 'a1'), { ok: true, leavesConf: true });
    assert.deepEqual(planRemoval({ id: 'x7', name: 'gone' }, { voters: ['a1'], learners: [] }, 'a1'), { ok: true, leavesConf: false });
  });

  test('a demotion may not take the last manager, nor the leader; a promotion always may', () => {
    const members = [{ id: 'a1', role: 'manager' as const }, { id: 'b2', role: 'manager' as const }, { id: 'w9', role: 'worker' as const }];
    assert.match(roleChangeRefusal({ id: 'a1', name: 'host-1' }, 'worker', [members[0]!, members[2]!], 'b2')!.message, /host-1 is the last manager; promote another node first/);
    assert.match(roleChangeRefusal({ id: 'a1', name: 'host-1' }, 'worker', members, 'a1')!.message, /host-1 is the leader; demote it from another manager after leadership moves/);
    assert.equal(roleChangeRefusal({ id: 'b2', name: 'host-2' }, 'worker', members, 'a1'), null);
    assert.equal(roleChangeRefusal({ id: 'w9', name: 'host-9' }, 'manager', members, 'a1'), null);
  });
});

describe('membership: whom a stopping leader hands over to', () => {
  test('the most up-to-date other voter; nobody when it votes alone; learners never', () => {
    assert.equal(transferTarget({ conf: { voters: ['a1', 'b2', 'c3'], learners: ['w9'] }, progress: progress({ a1: 9, b2: 7, c3: 8, w9: 9 }) }, 'a1'), 'c3');
    assert.equal(transferTarget({ conf: { voters: ['a1'], learners: ['w9'] }, progress: progress({ a1: 9, w9: 9 }) }, 'a1'), null);
  });
});
