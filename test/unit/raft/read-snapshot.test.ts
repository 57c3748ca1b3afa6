import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, Raft } from '../../../daemon/voting/raft';
import { Cluster, appliedData, seeded } from './harness';

const ids = ['a', 'b', 'c'];

describe('Raft thesis §6.4 read index', () => {
  test('§6.4 a read index is released only after a quorum confirms the leadership', () => {
    const c = new Cluster(ids);
    c.elect('a');
    const a = c.node('a');
    c.isolate('a');
    assert.deepEqual(a.raft.readIndex('r1'), { ok: true });
    c.deliver();
    c.tickAll(1);
    assert.equal(a.readStates.length, 0, 'no quorum heard: no read');
    c.heal();
    c.tickAll(1);
    assert.deepEqual(a.readStates, [{ requestId: 'r1', index: a.raft.status().commit }]);
  });

  test('§6.4 the read index is the commit index when the read arrived', () => {
    const c = new Cluster(ids);
    c.elect('a');
    const a = c.node('a');
    a.raft.propose('x');
    c.deliver();
    const commit = a.raft.status().commit;
    a.raft.readIndex('r');
    a.raft.propose('y'); // proposed after the read: may or may not be seen
    c.deliver();
    assert.equal(a.readStates[0]?.index, commit);
  });

  test('§6.4 a new leader defers reads until it has committed an entry of its term', () => {
    const storage = new MemoryStorage();
    const boot = { index: 1, term: 1, type: 'config' as const, data: JSON.stringify({ voters: ids, learners: [] }) };
    storage.save({ term: 3, vote: null, commit: 1 }, [boot, { index: 2, term: 2, type: 'normal', data: 'old' }], null);
    const a = new Raft({ id: 'a', storage, random: seeded(3), preVote: false });
    while (a.status().role !== 'candidate') a.tick();
    a.step({ type: 'voteResp', from: 'b', to: 'a', term: 4, reject: false });
    assert.equal(a.status().role, 'leader');
    assert.deepEqual(a.readIndex('r'), { ok: true });
    const ready = () => {
      const r = a.ready();
      storage.save(r.hardState, r.entries, r.snapshot);
      return r;
    };
    let rd = ready();
    assert.equal(rd.readStates.length, 0);
    assert.ok(rd.messages.every((m) => m.type !== 'heartbeat'), 'no confirmation round before the no-op commits');
    a.advance(rd);
    a.step({ type: 'appendResp', from: 'b', to: 'a', term: 4, reject: false, index: 3, hintIndex: 0, hintTerm: 0 });
    rd = ready();
    const hb = rd.messages.find((m) => m.type === 'heartbeat' && m.context === 'r');
    assert.ok(hb !== undefined, 'the no-op committed: now the read is confirmed by a heartbeat round');
    a.advance(rd);
    a.step({ type: 'heartbeatResp', from: 'c', to: 'a', term: 4, context: 'r' });
    assert.deepEqual(ready().readStates, [{ requestId: 'r', index: 3 }]);
  });

  test('§6.4 a leader that loses leadership drops its pending reads', () => {
    const c = new Cluster(ids);
    c.elect('a');
    c.isolate('a');
    const a = c.node('a');
    a.raft.readIndex('r1');
    for (let i = 0; i < 10 && a.raft.status().role === 'leader'; i++) {
      a.raft.tick();
      c.flush();
    }
    assert.equal(a.raft.status().role, 'follower');
    assert.deepEqual(a.droppedReads, ['r1']);
    assert.equal(a.readStates.length, 0);
  });

  test('reads on a follower are refused with the leader id', () => {
    const c = new Cluster(ids);
    c.elect('a');
    const r = c.raft('b').readIndex('r');
    assert.ok(!r.ok && r.code === 'NOT_LEADER' && r.leader === 'a');
  });
});

describe('Raft §7 log compaction and snapshots', () => {
  test('§7 a follower whose entries were compacted away receives the snapshot, then the rest', () => {
    const c = new Cluster(ids);
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 20; i++) c.raft('a').propose(`v${i}`);
    c.deliver();
    c.tickAll(1);
    const a = c.node('a');
    const applied = a.raft.status().applied;
    a.storage.compact(applied, JSON.stringify(appliedData(a)));
    assert.equal(a.storage.firstIndex(), applied + 1);
    c.heal();
    c.raft('a').propose('after');
    c.tickAll(3);
    const cNode = c.node('c');
    const sent = c.sent.filter((m) => m.type === 'snapshot' && m.to === 'c');
    assert.equal(sent.length, 1, 'one snapshot sent');
    assert.equal(cNode.storage.snapshot().meta.index, applied);
    assert.deepEqual(JSON.parse(cNode.storage.snapshot().data), appliedData(a).slice(0, 20));
    assert.deepEqual(appliedData(cNode), ['after'], 'then the entries after it');
    assert.equal(cNode.raft.status().commit, a.raft.status().commit);
    assert.deepEqual(cNode.raft.status().conf.voters, ids, 'the snapshot carries the membership');
  });

  test('§7 a snapshot older than the follower commit is ignored', () => {
    const c = new Cluster(ids);
    c.elect('a');
    c.raft('a').propose('x');
    c.deliver();
    c.tickAll(1);
    const b = c.node('b');
    const before = b.raft.status();
    b.raft.step({
      type: 'snapshot', from: 'a', to: 'b', term: before.term,
      snapshot: { meta: { index: 1, term: 1, conf: { voters: ids, learners: [] } }, data: '' },
    });
    const rd = b.raft.ready();
    assert.equal(rd.snapshot, null);
    const resp = rd.messages[0]!;
    assert.ok(resp.type === 'appendResp' && !resp.reject && resp.index === before.lastIndex);
    b.raft.advance(rd);
  });

  test('a restarted node keeps its term, vote and log, and re-applies committed entries', () => {
    const c = new Cluster(ids);
    c.elect('a');
    for (const x of ['x', 'y']) c.raft('a').propose(x);
    c.deliver();
    c.tickAll(1);
    const before = c.raft('b').status();
    const b = c.restart('b');
    const after = b.raft.status();
    assert.deepEqual([after.term, after.vote, after.lastIndex, after.commit], [before.term, before.vote, before.lastIndex, before.commit]);
    assert.equal(after.applied, 0);
    b.applied = [];
    c.flush();
    assert.deepEqual(appliedData(b), ['x', 'y']);
  });
});
