import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage } from '../../../daemon/voting/raft';
import { Cluster, appliedData } from './harness';

const ids = ['a', 'b', 'c'];

describe('Raft thesis §4 membership changes', () => {
  test('§4.1 a new server joins as a learner, catches up, then becomes a voter', () => {
    const c = new Cluster(ids);
    c.elect('a');
    c.raft('a').propose('x');
    c.deliver();
    const d = c.start('d', new MemoryStorage()); // joins with no peers: waits for the leader
    const r = c.raft('a').changeMembership({ type: 'addLearner', nodeId: 'd' });
    assert.ok(r.ok);
    c.tickAll(3);
    assert.deepEqual(d.raft.status().conf, { voters: ids, learners: ['d'] });
    assert.deepEqual(appliedData(d), ['x']);
    assert.equal(c.raft('a').status().progress.get('d')?.match, c.raft('a').status().lastIndex);
    assert.ok(c.raft('a').changeMembership({ type: 'addVoter', nodeId: 'd' }).ok);
    c.tickAll(2);
    for (const id of [...ids, 'd']) assert.deepEqual(c.raft(id).status().conf, { voters: [...ids, 'd'], learners: [] });
  });

  test('§4.1 a learner neither campaigns nor counts toward a commit', () => {
    const c = new Cluster(ids);
    c.elect('a');
    c.start('d', new MemoryStorage());
    c.raft('a').changeMembership({ type: 'addLearner', nodeId: 'd' });
    c.tickAll(3);
    c.isolate('b');
    c.isolate('c');
    c.cut.delete('a>d');
    c.cut.delete('d>a');
    const p = c.raft('a').propose('y');
    assert.ok(p.ok);
    c.tickAll(3);
    assert.ok(c.raft('a').status().commit < p.index, 'leader + learner is no majority of 3 voters');
    assert.equal(c.raft('d').status().lastIndex, p.index, 'but the learner has the entry');
    c.isolate('a');
    for (let i = 0; i < 40; i++) c.raft('d').tick();
    c.flush();
    assert.equal(c.raft('d').status().role, 'follower');
  });

  test('§4.1 only one membership change may be uncommitted at a time', () => {
    const c = new Cluster(ids);
    c.elect('a');
    c.isolate('b');
    c.isolate('c');
    assert.ok(c.raft('a').changeMembership({ type: 'addLearner', nodeId: 'd' }).ok);
    const second = c.raft('a').changeMembership({ type: 'addLearner', nodeId: 'e' });
    assert.ok(!second.ok && second.code === 'CONF_CHANGE_PENDING');
  });

  test('§4.1 a server uses the latest configuration in its log, and reverts if that entry is truncated', () => {
    const c = new Cluster(ids, { checkQuorum: false });
    c.elect('a');
    c.cut.add('a>c');
    assert.ok(c.raft('a').changeMembership({ type: 'addLearner', nodeId: 'd' }).ok);
    c.isolate('a');
    c.cut.delete('a>b');
    c.deliver();
    c.cut.add('a>b');
    assert.deepEqual(c.raft('b').status().conf.learners, ['d'], 'in effect on b though not committed');
    // c becomes leader without the entry (a is gone; b's log is longer, so c needs b's vote: use d-free log).
    const b = c.node('b');
    const s = b.raft.status();
    b.raft.step({
      type: 'append', from: 'c', to: 'b', term: s.term + 1,
      prevIndex: s.lastIndex - 1, prevTerm: s.term,
      entries: [{ index: s.lastIndex, term: s.term + 1, type: 'noop', data: '' }], commit: s.commit,
    });
    assert.deepEqual(b.raft.status().conf.learners, [], 'the truncated config entry no longer applies');
  });

  test('§4.2.2 a leader that removes itself steps down once the change commits', () => {
    const c = new Cluster(ids);
    c.elect('a');
    assert.ok(c.raft('a').changeMembership({ type: 'removeNode', nodeId: 'a' }).ok);
    c.deliver();
    c.tickAll(1);
    assert.equal(c.raft('a').status().role, 'follower');
    assert.deepEqual(c.raft('b').status().conf.voters, ['b', 'c']);
    c.nodes.delete('a');
    c.tickAll(25);
    assert.equal(c.leaders().length, 1);
    assert.ok(c.raft(c.leaders()[0]!).propose('z').ok);
  });

  test('a membership change that makes no sense is refused', () => {
    const c = new Cluster(ids);
    c.elect('a');
    const r1 = c.raft('a').changeMembership({ type: 'addVoter', nodeId: 'b' });
    const r2 = c.raft('a').changeMembership({ type: 'removeNode', nodeId: 'zz' });
    assert.ok(!r1.ok && r1.code === 'INVALID_CONF_CHANGE');
    assert.ok(!r2.ok && r2.code === 'INVALID_CONF_CHANGE');
  });
});

describe('Raft thesis §3.10 leadership transfer', () => {
  test('§3.10 leadership moves to an up-to-date voter without waiting for an election timeout', () => {
    const c = new Cluster(ids);
    c.elect('a');
    const term = c.raft('a').status().term;
    assert.deepEqual(c.raft('a').transferLeadership('b'), { ok: true });
    c.deliver();
    assert.equal(c.raft('b').status().role, 'leader', 'no tick was needed');
    assert.equal(c.raft('b').status().term, term + 1);
    assert.equal(c.raft('a').status().leader, 'b');
  });

  test('§3.10 a lagging target is caught up first, and proposals are refused meanwhile', () => {
    const c = new Cluster(ids);
    c.elect('a');
    c.isolate('b');
    c.raft('a').propose('x');
    c.deliver();
    c.raft('a').transferLeadership('b');
    const p = c.raft('a').propose('y');
    assert.ok(!p.ok && p.code === 'TRANSFER_IN_PROGRESS');
    c.heal();
    c.tickAll(2);
    assert.equal(c.raft('b').status().role, 'leader');
    assert.deepEqual(appliedData(c.node('b')), ['x']);
  });

  test('§3.10 a transfer that cannot finish is abandoned after an election timeout', () => {
    const c = new Cluster(ids);
    c.elect('a');
    c.isolate('b');
    c.raft('a').transferLeadership('b');
    c.tickAll(6);
    assert.equal(c.raft('a').status().role, 'leader');
    assert.equal(c.raft('a').status().leadTransferee, null);
    assert.ok(c.raft('a').propose('x').ok);
  });
});
