import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, Raft, RaftInvariantError } from '../../../daemon/voting/raft';
import { seeded } from './harness';

const ids = ['a', 'b', 'c'];

describe('the Ready/advance contract', () => {
  test('a vote is answered in the same Ready that persists it', () => {
    const storage = new MemoryStorage();
    const b = new Raft({ id: 'b', storage, peers: ids, random: seeded(1), preVote: false });
    const boot = b.ready(); // the bootstrap entry
    storage.save(boot.hardState, boot.entries, boot.snapshot);
    b.advance(boot);
    b.step({ type: 'vote', from: 'a', to: 'b', term: 2, lastIndex: 1, lastTerm: 1, transfer: false });
    const rd = b.ready();
    assert.deepEqual(rd.hardState, { term: 2, vote: 'a', commit: 1 });
    assert.ok(rd.messages.some((m) => m.type === 'voteResp' && !m.reject));
  });

  test('a fresh founding member persists the bootstrap membership as committed entry 1', () => {
    const a = new Raft({ id: 'a', storage: new MemoryStorage(), peers: ids, random: seeded(1) });
    const rd = a.ready();
    assert.deepEqual(rd.entries.map((e) => [e.index, e.term, e.type]), [[1, 1, 'config']]);
    assert.deepEqual(rd.hardState, { term: 1, vote: null, commit: 1 });
    assert.deepEqual(rd.committedEntries.map((e) => e.index), [1]);
  });

  test('ready() again before advance() is refused', () => {
    const a = new Raft({ id: 'a', storage: new MemoryStorage(), peers: ids, random: seeded(1) });
    a.ready();
    assert.throws(() => a.ready(), RaftInvariantError);
  });

  test('nothing to do means no Ready', () => {
    const storage = new MemoryStorage();
    const a = new Raft({ id: 'a', storage, peers: ids, random: seeded(1) });
    const rd = a.ready();
    storage.save(rd.hardState, rd.entries, rd.snapshot);
    a.advance(rd);
    assert.equal(a.hasReady(), false);
  });

  test('bad settings are refused with the option named', () => {
    const make = (extra: object) => () => new Raft({ id: 'a', storage: new MemoryStorage(), random: seeded(1), ...extra });
    assert.throws(make({ electionTicks: 1, heartbeatTicks: 1 }), /electionTicks/);
    assert.throws(make({ heartbeatTicks: 0 }), /heartbeatTicks/);
    assert.throws(make({ applied: 5 }), /applied/);
  });
});
