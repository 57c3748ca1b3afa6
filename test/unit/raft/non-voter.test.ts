import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, Raft, type Message } from '../../../daemon/voting/raft';
import { Cluster, seeded } from './harness';

const voters = ['a', 'b', 'c'];

/** Voters a, b, c and learner l, with a elected. */
function withLearner(options: { preVote?: boolean } = {}): Cluster {
  const c = new Cluster([], options);
  for (const id of [...voters, 'l']) c.start(id, new MemoryStorage(), { peers: voters, learners: ['l'] });
  c.elect('a');
  c.tickAll(2);
  return c;
}

const append = (from: string, to: string, term: number): Message => ({ type: 'append', from, to, term, prevIndex: 1, prevTerm: 1, entries: [], commit: 1 });
const heartbeat = (from: string, to: string, term: number): Message => ({ type: 'heartbeat', from, to, term, commit: 1, context: '' });
const vote = (type: 'vote' | 'preVote', from: string, to: string, term: number): Message => ({ type, from, to, term, lastIndex: 99, lastTerm: 99, transfer: false });

describe('the non-voter rule (thesis §4.2.3 and the learner rule): only voters raise terms, ask for votes or lead', () => {
  test('learner rule: a learner\'s higher-term append, heartbeat and answers change neither a voter\'s term nor its leader', () => {
    const c = withLearner();
    const before = c.raft('b').status().term;
    for (const m of [append('l', 'b', before + 83), heartbeat('l', 'b', before + 84), append('l', 'a', before + 85)]) c.raft(m.to).step(m);
    c.raft('a').step({ type: 'appendResp', from: 'l', to: 'a', term: before + 86, reject: false, index: 0, hintIndex: 0, hintTerm: 0 });
    c.raft('a').step({ type: 'heartbeatResp', from: 'l', to: 'a', term: before + 87, context: '' });
    for (const id of voters) {
      assert.equal(c.raft(id).status().term, before, `${id}'s term`);
      assert.equal(c.raft(id).status().leader, 'a', `${id}'s leader`);
    }
    assert.equal(c.raft('a').status().role, 'leader');
    assert.equal(c.raft('b').ignoredMessages(), 2);
    assert.equal(c.raft('a').ignoredMessages(), 3);
    c.tickAll(10);
    assert.equal(c.raft('a').status().role, 'leader', 'the leader still leads');
    assert.equal(c.raft('a').status().term, before);
  });

  test('learner rule: a learner\'s RequestVote and PreVote are ignored, even by a voter with no leader', () => {
    const c = new Cluster([]);
    for (const id of [...voters, 'l']) c.start(id, new MemoryStorage(), { peers: voters, learners: ['l'] });
    const b = c.raft('b');
    b.step(vote('preVote', 'l', 'b', 2));
    b.step(vote('vote', 'l', 'b', 2));
    assert.equal(b.status().term, 1);
    assert.equal(b.status().vote, null);
    assert.deepEqual(b.ready().messages, [], 'not even a refusal is sent');
    assert.equal(b.ignoredMessages(), 2);
  });

  test('§4.2.3 a RequestVote from a server not in the configuration is ignored', () => {
    const b = new Raft({ id: 'b', storage: new MemoryStorage(), peers: voters, random: seeded(3), preVote: false });
    b.step(vote('vote', 'x', 'b', 5));
    b.step({ type: 'timeoutNow', from: 'x', to: 'b', term: 1 });
    assert.equal(b.status().term, 1);
    assert.equal(b.status().vote, null);
    assert.equal(b.status().role, 'follower', 'a stranger\'s TimeoutNow starts no campaign');
    assert.equal(b.ready().messages.length, 0);
  });

  test('§4.2.3 a removed server that campaigns with ever higher terms does not depose the leader', () => {
    const c = new Cluster(voters, { preVote: false });
    c.elect('a');
    c.isolate('c'); // c never hears that it was removed
    assert.ok(c.raft('a').changeMembership({ type: 'removeNode', nodeId: 'c' }).ok);
    c.deliver();
    const term = c.raft('a').status().term;
    c.heal();
    c.tickAll(60);
    assert.ok(c.raft('c').status().term > term + 2, 'c kept campaigning');
    assert.equal(c.raft('a').status().role, 'leader');
    assert.equal(c.raft('a').status().term, term);
    assert.equal(c.raft('b').status().term, term);
    assert.equal(c.raft('b').status().leader, 'a');
  });

  test('§4.2.3 leader stickiness: a voter that heard from its leader within the election timeout ignores a disruptive RequestVote and PreVote', () => {
    const c = new Cluster(voters);
    c.elect('a');
    const b = c.raft('b');
    const term = b.status().term;
    b.step(vote('preVote', 'c', 'b', term + 1));
    b.step(vote('vote', 'c', 'b', term + 5));
    assert.equal(b.status().term, term);
    assert.equal(b.status().leader, 'a');
    assert.equal(b.status().vote, 'a');
    c.flush();
    assert.ok(!c.inflight.some((m) => m.to === 'c' && (m.type === 'voteResp' || m.type === 'preVoteResp') && !m.reject), 'no vote granted');
  });

  test('liveness: a voter with no live leader follows a leader it does not know of yet (a voter added by entries it lacks)', () => {
    const b = new Raft({ id: 'b', storage: new MemoryStorage(), peers: voters, random: seeded(5) });
    b.step(heartbeat('a', 'b', 2));
    b.step(append('d', 'b', 3));
    assert.equal(b.status().leader, 'a', 'while a is live, a stranger\'s append is ignored');
    for (let i = 0; i < 5; i++) b.tick(); // an election timeout without a word from a
    b.step(append('d', 'b', 3));
    assert.equal(b.status().term, 3);
    assert.equal(b.status().leader, 'd');
  });

  test('liveness: a joiner that knows no configuration yet follows the leader\'s first append', () => {
    const d = new Raft({ id: 'd', storage: new MemoryStorage(), random: seeded(7) });
    d.step(append('a', 'd', 4));
    assert.equal(d.status().term, 4);
    assert.equal(d.status().leader, 'a');
  });
});

describe('learner heartbeats (learnerHeartbeatTicks): idle learners cost the leader less, commits reach them at once', () => {
  /** Voters a, b, c and learners l1, l2, as real cores whose messages are delivered at once; `a` elected. */
  function cluster(learnerHeartbeatTicks: number) {
    const ids = [...voters, 'l1', 'l2'];
    const nodes = new Map(ids.map((id, i) => {
      const storage = new MemoryStorage();
      const raft = new Raft({ id, storage, peers: voters, learners: ['l1', 'l2'], random: seeded(7 + i), learnerHeartbeatTicks });
      return [id, { storage, raft }];
    }));
    const sent: Message[] = [];
    const pump = () => {
      for (let round = 0; round < 50; round++) {
        let moved = false;
        for (const [id, n] of nodes) {
          if (!n.raft.hasReady()) continue;
          const rd = n.raft.ready();
          n.storage.save(rd.hardState, rd.entries, rd.snapshot);
          n.raft.advance(rd);
          for (const m of rd.messages) {
            if (id === 'a') sent.push(m);
            nodes.get(m.to)?.raft.step(m);
            moved = true;
          }
        }
        if (!moved) return;
      }
    };
    const a = nodes.get('a')!.raft;
    for (let i = 0; i < 100 && a.status().role !== 'leader'; i++) {
      a.tick();
      pump();
    }
    assert.equal(a.status().role, 'leader');
    for (let i = 0; i < 5; i++) {
      for (const n of nodes.values()) n.raft.tick();
      pump();
    }
    return { nodes, a, sent, pump };
  }

  test('with learnerHeartbeatTicks 5, 10 idle ticks send each voter 10 heartbeats and each learner 2', () => {
    const { nodes, a, sent, pump } = cluster(5);
    sent.length = 0;
    for (let i = 0; i < 10; i++) {
      for (const n of nodes.values()) n.raft.tick();
      pump();
    }
    assert.equal(a.status().role, 'leader');
    const heartbeatsTo = (id: string) => sent.filter((m) => m.type === 'heartbeat' && m.to === id).length;
    assert.deepEqual(['b', 'c', 'l1', 'l2'].map(heartbeatsTo), [10, 10, 2, 2]);
  });

  test('a commit reaches the learners in the same round, not at their next heartbeat', () => {
    const { nodes, a, pump } = cluster(50);
    const index = a.status().lastIndex + 1;
    assert.equal(a.propose('x').ok, true);
    pump();
    for (const id of ['l1', 'l2']) assert.ok(nodes.get(id)!.raft.status().commit >= index, `${id} knows the commit`);
  });

  test('learnerHeartbeatTicks below heartbeatTicks is refused, naming the option', () => {
    assert.throws(() => new Raft({ id: 'a', storage: new MemoryStorage(), peers: ['a'], random: seeded(1), heartbeatTicks: 2, electionTicks: 5, learnerHeartbeatTicks: 1 }), /learnerHeartbeatTicks must be an integer >= heartbeatTicks \(2\), got 1/);
  });
});
