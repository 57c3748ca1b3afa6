import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, ProposalTracker, Raft, type Entry, type ProposalOutcome } from '../../../daemon/voting/raft';
import { Cluster, appliedData, seeded } from './harness';

const ids = ['a', 'b', 'c'];

function entry(index: number, term: number, data = `${index}@${term}`): Entry {
  return { index, term, type: 'normal', data };
}

function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

/** A storage holding the bootstrap entry, then `entries`, at `term`. */
function store(entries: Entry[], term: number, peers = ids): MemoryStorage {
  const storage = new MemoryStorage();
  const boot: Entry = { index: 1, term: 1, type: 'config', data: JSON.stringify({ voters: peers, learners: [] }) };
  storage.save({ term, vote: null, commit: 1 }, [boot, ...entries], null);
  return storage;
}

/** A follower whose storage already holds `entries` after the bootstrap entry, at `term`. */
function followerWith(entries: Entry[], term: number): Raft {
  const storage = new MemoryStorage();
  const boot: Entry = { index: 1, term: 1, type: 'config', data: JSON.stringify({ voters: ids, learners: [] }) };
  storage.save({ term, vote: null, commit: 1 }, [boot, ...entries], null);
  return new Raft({ id: 'b', storage, random: seeded(2) });
}

describe('Raft §5.3 log replication', () => {
  test('§8 a new leader appends a no-op entry at the start of its term', () => {
    const c = new Cluster(ids);
    c.elect('a');
    const s = c.raft('a').status();
    const [last] = c.raft('a').entries(s.lastIndex, s.lastIndex + 1);
    assert.equal(last!.type, 'noop');
    assert.equal(last!.term, s.term);
    assert.equal(s.commit, s.lastIndex, 'the no-op commits once a majority has it');
  });

  test('§5.3 a committed entry is applied by every server, in log order', () => {
    const c = new Cluster(ids);
    c.elect('a');
    for (const x of ['x', 'y', 'z']) assert.ok(c.raft('a').propose(x).ok);
    c.deliver();
    c.tickAll(2);
    for (const id of ids) assert.deepEqual(appliedData(c.node(id)), ['x', 'y', 'z']);
  });

  test('an append carries no more entry data than maxBytesPerMessage, but always one entry; every entry still commits', () => {
    const c = new Cluster(ids, { maxBytesPerMessage: 1000 });
    c.elect('a');
    c.cut.add('a>b');
    c.cut.add('a>c');
    const big = ['x'.repeat(600), 'y'.repeat(600), 'z'.repeat(300), 'w'.repeat(2500)];
    for (const x of big) assert.ok(c.raft('a').propose(x).ok);
    c.flush();
    c.cut.clear();
    c.sent.length = 0;
    c.tickAll(2);
    c.deliver();
    for (const id of ids) assert.deepEqual(appliedData(c.node(id)), big);
    const appends = c.sent.filter((m) => m.type === 'append' && m.to === 'b' && m.entries.length > 0);
    for (const m of appends) {
      if (m.type !== 'append') continue;
      const bytes = m.entries.reduce((sum, e) => sum + e.data.length, 0);
      assert.ok(m.entries.length === 1 || bytes <= 1000, `an append of ${m.entries.length} entries carries ${bytes} characters`);
    }
    assert.ok(appends.some((m) => m.type === 'append' && m.entries.length === 1 && m.entries[0]!.data.length === 2500), 'an entry larger than the bound goes alone');
  });

  test('§5.3 a follower rejects an append whose previous entry does not match, with a hint', () => {
    const b = followerWith([entry(2, 2), entry(3, 2)], 3);
    b.step({ type: 'append', from: 'a', to: 'b', term: 3, prevIndex: 3, prevTerm: 3, entries: [entry(4, 3)], commit: 1 });
    const [resp] = b.ready().messages;
    assert.ok(resp!.type === 'appendResp' && resp.reject);
    assert.equal(resp.index, 3);
    assert.deepEqual([resp.hintIndex, resp.hintTerm], [3, 2], 'our last entry with a term <= 3');
    assert.equal(b.status().lastIndex, 3, 'nothing appended');
  });

  test('§5.3 a follower deletes a conflicting suffix and appends the leader entries', () => {
    const b = followerWith([entry(2, 2), entry(3, 2), entry(4, 2)], 3);
    b.step({ type: 'append', from: 'a', to: 'b', term: 3, prevIndex: 2, prevTerm: 2, entries: [entry(3, 3), entry(4, 3)], commit: 3 });
    const rd = b.ready();
    assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[3, 3], [4, 3]]);
    assert.equal(rd.hardState?.commit, 3);
    assert.deepEqual(rd.committedEntries.map((e) => e.index), [1, 2, 3]);
    const [resp] = rd.messages;
    assert.ok(resp!.type === 'appendResp' && !resp.reject && resp.index === 4);
  });

  test('§5.3 an append that duplicates entries already held truncates nothing', () => {
    const b = followerWith([entry(2, 3), entry(3, 3), entry(4, 3)], 3);
    b.step({ type: 'append', from: 'a', to: 'b', term: 3, prevIndex: 1, prevTerm: 1, entries: [entry(2, 3)], commit: 1 });
    assert.equal(b.status().lastIndex, 4);
    assert.equal(b.ready().entries.length, 0);
  });

  test('§5.3 fast back-off: the leader skips a whole conflicting term per round trip', () => {
    const c = new Cluster(ids, { preVote: false });
    const term2 = range(2, 11).map((i) => entry(i, 2));
    c.start('a', store([...term2], 3));
    c.start('c', store([...term2], 3));
    // b holds a long tail of term 3 from a leader that never committed it.
    c.start('b', store([...term2.slice(0, 5), ...range(7, 40).map((i) => entry(i, 3))], 3));
    c.cut.add('a>b');
    c.elect('a'); // with c's vote, at term 4
    c.cut.clear();
    const before = c.sent.length;
    c.raft('a').tick();
    c.deliver();
    const rejects = c.sent.slice(before).filter((m) => m.type === 'appendResp' && m.reject);
    // Entry by entry it would take 5 rejections (11 down to 7); by term it takes at most 2.
    assert.ok(rejects.length >= 1 && rejects.length <= 2, `saw ${rejects.length} rejections`);
    const last = c.raft('a').status().lastIndex;
    assert.deepEqual(c.raft('b').entries(1, last + 1), c.raft('a').entries(1, last + 1));
    assert.equal(c.raft('b').status().lastIndex, last);
  });

  test('§5.4.2 a leader never commits entries from previous terms by counting replicas', () => {
    // Raft Figure 8: leader of term 4 holding an entry of term 2 that a majority has.
    const peers = ['a', 'b', 'c', 'd', 'e'];
    const a = new Raft({ id: 'a', storage: store([entry(2, 2)], 3, peers), random: seeded(1), preVote: false });
    while (a.status().role !== 'candidate') a.tick();
    a.step({ type: 'voteResp', from: 'b', to: 'a', term: 4, reject: false });
    a.step({ type: 'voteResp', from: 'c', to: 'a', term: 4, reject: false });
    assert.equal(a.status().role, 'leader');
    assert.equal(a.status().lastIndex, 3, 'the no-op of term 4 is entry 3');
    const ack = (from: string, index: number) =>
      a.step({ type: 'appendResp', from, to: 'a', term: 4, reject: false, index, hintIndex: 0, hintTerm: 0 });
    ack('b', 2);
    ack('c', 2);
    assert.equal(a.status().commit, 1, 'entry 2 is on a majority but of term 2: not committed');
    ack('b', 3);
    assert.equal(a.status().commit, 1, 'the term-4 entry is on 2 of 5 only');
    ack('c', 3);
    assert.equal(a.status().commit, 3, 'committing the term-4 entry commits entry 2 with it');
  });

  test('proposals on a follower are refused with the leader id', () => {
    const c = new Cluster(ids);
    c.elect('a');
    const r = c.raft('b').propose('x');
    assert.ok(!r.ok);
    assert.equal(r.code, 'NOT_LEADER');
    assert.equal(r.leader, 'a');
  });

  test('a proposal lost to a leader change is reported lost; a committed one committed', () => {
    const c = new Cluster(ids);
    c.elect('a');
    const outcomes = new Map<string, ProposalOutcome>();
    const tracker = new ProposalTracker<string>();
    tracker.onSettled = (h, o) => outcomes.set(h, o);
    const kept = c.raft('a').propose('kept');
    assert.ok(kept.ok);
    tracker.track(kept.index, kept.term, 'kept');
    c.deliver();
    c.isolate('a');
    const lost = c.raft('a').propose('lost');
    assert.ok(lost.ok);
    tracker.track(lost.index, lost.term, 'lost');
    c.flush();
    c.inflight = [];
    c.tickAll(20); // b or c takes over and commits its own no-op at that index
    c.heal();
    c.tickAll(5);
    for (const e of c.node('a').applied) tracker.applied(e);
    assert.equal(outcomes.get('kept'), 'committed');
    assert.equal(outcomes.get('lost'), 'lost');
    assert.ok(!appliedData(c.node('b')).includes('lost'));
  });
});
