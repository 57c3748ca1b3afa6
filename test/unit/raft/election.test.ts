import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, Raft, type Message } from '../../../daemon/voting/raft';
import { Cluster, seeded } from './harness';

const ids = ['a', 'b', 'c'];

describe('Raft §5.2 leader election', () => {
  test('§5.2 a follower that hears nothing for an election timeout starts an election', () => {
    const c = new Cluster(ids, { preVote: false });
    const a = c.raft('a');
    assert.equal(a.status().role, 'follower');
    c.tickUntilCampaign('a');
    assert.equal(a.status().role, 'candidate');
    assert.equal(a.status().term, 2, 'a candidate increments its term (bootstrap is term 1)');
    assert.equal(a.status().vote, 'a', 'a candidate votes for itself');
    const votes = c.inflight.filter((m) => m.type === 'vote');
    assert.deepEqual(votes.map((m) => m.to).sort(), ['b', 'c']);
  });

  test('§5.2 a candidate that receives votes from a majority becomes leader', () => {
    const c = new Cluster(ids, { preVote: false });
    c.cut.add('c>a'); // c's vote is lost: a still wins with b's
    c.elect('a');
    assert.equal(c.raft('a').status().role, 'leader');
    assert.equal(c.raft('b').status().leader, 'a');
  });

  test('§5.2 a candidate that learns of a leader of its term becomes follower', () => {
    const c = new Cluster(ids, { preVote: false });
    c.isolate('b');
    const b = c.raft('b');
    c.tickUntilCampaign('b');
    assert.equal(b.status().role, 'candidate');
    const term = b.status().term;
    // Another server won this term and sends b an append.
    b.step({ type: 'append', from: 'c', to: 'b', term, prevIndex: 1, prevTerm: 1, entries: [], commit: 1 });
    assert.equal(b.status().role, 'follower');
    assert.equal(b.status().leader, 'c');
    assert.equal(b.status().term, term);
  });

  test('§5.2 each server votes for at most one candidate per term', () => {
    const b = new Raft({ id: 'b', storage: new MemoryStorage(), peers: ids, random: seeded(1), preVote: false });
    const ask = (from: string): Message => ({ type: 'vote', from, to: 'b', term: 5, lastIndex: 1, lastTerm: 1, transfer: false });
    b.step(ask('a'));
    b.step(ask('c'));
    b.step(ask('a')); // a retransmitted request is granted again
    const answers = b.ready().messages.filter((m) => m.type === 'voteResp');
    assert.deepEqual(
      answers.map((m) => [m.to, m.type === 'voteResp' && m.reject]),
      [['a', false], ['c', true], ['a', false]],
    );
    assert.equal(b.status().vote, 'a');
  });

  test('§5.4.1 a voter denies its vote to a candidate whose log is less up-to-date', () => {
    const c = new Cluster(ids, { preVote: false, checkQuorum: false });
    c.elect('a');
    c.raft('a').propose('x');
    c.deliver();
    const b = c.raft('b');
    const last = b.status();
    b.step({ type: 'vote', from: 'c', to: 'b', term: 9, lastIndex: last.lastIndex - 1, lastTerm: last.lastTerm, transfer: false });
    b.step({ type: 'vote', from: 'c', to: 'b', term: 9, lastIndex: last.lastIndex + 5, lastTerm: last.lastTerm - 1, transfer: false });
    const answers = b.ready().messages.filter((m) => m.type === 'voteResp');
    assert.ok(answers.length === 2 && answers.every((m) => m.type === 'voteResp' && m.reject));
  });

  test('§5.1 a server that sees a higher term adopts it and becomes follower', () => {
    const c = new Cluster(ids, { preVote: false });
    c.elect('a');
    const a = c.raft('a');
    a.step({ type: 'appendResp', from: 'b', to: 'a', term: 7, reject: false, index: 0, hintIndex: 0, hintTerm: 0 });
    assert.equal(a.status().role, 'follower');
    assert.equal(a.status().term, 7);
    assert.equal(a.status().vote, null);
  });

  test('§5.1 a request of a stale term is rejected', () => {
    const c = new Cluster(ids, { preVote: false });
    c.elect('a');
    const b = c.raft('b');
    const before = b.status();
    b.step({ type: 'append', from: 'c', to: 'b', term: 1, prevIndex: 1, prevTerm: 1, entries: [{ index: 2, term: 1, type: 'normal', data: 'stale' }], commit: 2 });
    assert.equal(b.status().lastIndex, before.lastIndex);
    assert.equal(b.status().leader, 'a');
  });

  test('§5.2 election timeouts are randomized within [electionTicks, 2 * electionTicks)', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const r = new Raft({ id: 'a', storage: new MemoryStorage(), peers: ids, random: seeded(seed), preVote: false });
      let ticks = 0;
      while (r.status().role === 'follower') {
        r.tick();
        ticks += 1;
      }
      seen.add(ticks);
    }
    assert.deepEqual([...seen].sort((x, y) => x - y), [5, 6, 7, 8, 9]);
  });

  test('a cluster of one elects itself at the first tick and commits alone', () => {
    const c = new Cluster(['solo']);
    const r = c.raft('solo');
    r.tick();
    c.flush();
    assert.equal(r.status().role, 'leader');
    const p = r.propose('x');
    assert.ok(p.ok);
    c.flush();
    assert.equal(r.status().commit, p.index);
  });
});

describe('Raft pre-vote and check-quorum (thesis §9.6, §6.2, §4.2.3)', () => {
  test('§9.6 a node cut off and rejoining does not raise the term or depose the leader', () => {
    const c = new Cluster(ids);
    c.elect('a');
    const term = c.raft('a').status().term;
    c.isolate('c');
    for (let i = 0; i < 50; i++) {
      c.raft('c').tick();
      c.deliver();
    }
    assert.equal(c.raft('c').status().term, term, 'pre-vote fails without a majority, so the term stays');
    assert.equal(c.raft('c').status().role, 'preCandidate');
    c.heal();
    c.tickAll(20);
    assert.equal(c.raft('a').status().role, 'leader');
    assert.equal(c.raft('a').status().term, term);
    assert.equal(c.raft('c').status().leader, 'a');
  });

  test('§6.2 check-quorum: a leader that hears from no majority within an election timeout steps down', () => {
    const c = new Cluster(ids);
    c.elect('a');
    c.isolate('a');
    const a = c.raft('a');
    for (let i = 0; i < 10 && a.status().role === 'leader'; i++) {
      a.tick();
      c.flush();
    }
    assert.equal(a.status().role, 'follower');
  });

  test('§4.2.3 a follower that heard from a leader within the election timeout ignores vote requests', () => {
    const c = new Cluster(ids, { preVote: false });
    c.elect('a');
    const b = c.raft('b');
    const term = b.status().term;
    b.step({ type: 'vote', from: 'c', to: 'b', term: term + 1, lastIndex: 100, lastTerm: term, transfer: false });
    assert.equal(b.status().term, term, 'the request did not raise the term');
    assert.equal(b.ready().messages.length, 0, 'nor was it answered');
  });

  test('§5.2 after the leader crashes a new leader is elected among the rest', () => {
    const c = new Cluster(['a', 'b', 'c', 'd', 'e']);
    c.elect('a');
    c.isolate('a');
    c.tickAll(25);
    const leaders = c.leaders().filter((id) => id !== 'a');
    assert.equal(leaders.length, 1);
    assert.ok(c.raft(leaders[0]!).status().term > c.raft('a').status().term);
  });
});
