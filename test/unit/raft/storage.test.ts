import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  CompactedError,
  LogGapError,
  MemoryStorage,
  Raft,
  SnapshotOutOfDateError,
  SqliteRaftStorage,
  UnavailableError,
  createRaftTables,
  type Entry,
  type RaftStorage,
} from '../../../daemon/voting/raft';
import { seeded } from './harness';

const dir = mkdtempSync(join(tmpdir(), 'bicycle-raft-storage-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const openDb = (path = join(dir, `raft-${files++}.db`)) => {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  return db;
};

const conf = (voters: string[], learners: string[] = []) => ({ index: 0, term: 0, type: 'config' as const, data: JSON.stringify({ voters, learners }) });
const e = (index: number, term: number, data = `d${index}`): Entry => ({ index, term, type: 'normal', data });

function contract(name: string, make: () => RaftStorage): void {
  describe(`${name} honours the RaftStorage contract`, () => {
    test('a fresh store is empty at index 0', () => {
      const s = make();
      assert.deepEqual(s.initialState(), { hardState: { term: 0, vote: null, commit: 0 }, snapshotConf: { voters: [], learners: [] } });
      assert.deepEqual([s.firstIndex(), s.lastIndex(), s.term(0)], [1, 0, 0]);
      assert.equal(s.snapshot().meta.index, 0);
    });

    test('save appends, overwrites a suffix, and writes the hard state', () => {
      const s = make();
      s.save({ term: 2, vote: 'a', commit: 1 }, [e(1, 1), e(2, 1), e(3, 2)], null);
      s.save(null, [e(3, 3, 'new'), e(4, 3)], null);
      assert.deepEqual(s.entries(1, 5).map((x) => [x.index, x.term, x.data]), [[1, 1, 'd1'], [2, 1, 'd2'], [3, 3, 'new'], [4, 3, 'd4']]);
      assert.deepEqual(s.initialState().hardState, { term: 2, vote: 'a', commit: 1 });
      assert.throws(() => s.save(null, [e(6, 3)], null), LogGapError);
      assert.throws(() => s.term(5), UnavailableError);
      assert.throws(() => s.entries(2, 7), UnavailableError);
    });

    test('compact keeps the term of the snapshot entry and the membership at it', () => {
      const s = make();
      s.save(null, [{ ...conf(['a', 'b', 'c']), index: 1, term: 1 }, e(2, 1), { ...conf(['a', 'b'], ['c']), index: 3, term: 2 }, e(4, 2)], null);
      s.compact(3, 'state@3');
      assert.deepEqual([s.firstIndex(), s.lastIndex(), s.term(3)], [4, 4, 2]);
      assert.deepEqual(s.snapshot().meta, { index: 3, term: 2, conf: { voters: ['a', 'b'], learners: ['c'] } });
      assert.equal(s.snapshot().data, 'state@3');
      assert.throws(() => s.term(2), CompactedError);
      assert.throws(() => s.entries(3, 4), CompactedError);
      assert.throws(() => s.compact(3, 'again'), SnapshotOutOfDateError);
      assert.throws(() => s.compact(9, 'future'), UnavailableError);
    });

    test('a snapshot from the leader replaces the whole log', () => {
      const s = make();
      s.save(null, [e(1, 1), e(2, 1)], null);
      const snapshot = { meta: { index: 10, term: 4, conf: { voters: ['a'], learners: [] } }, data: 'S' };
      s.save({ term: 4, vote: null, commit: 10 }, [e(11, 4)], snapshot);
      assert.deepEqual([s.firstIndex(), s.lastIndex(), s.term(10), s.term(11)], [11, 11, 4, 4]);
      assert.deepEqual(s.initialState().snapshotConf, { voters: ['a'], learners: [] });
      assert.throws(() => s.save(null, [], snapshot), SnapshotOutOfDateError);
    });
  });
}

contract('MemoryStorage', () => new MemoryStorage());
contract('SqliteRaftStorage', () => new SqliteRaftStorage(openDb()));
contract('SqliteRaftStorage holding 5 characters of entry data in memory', () => new SqliteRaftStorage(openDb(), 5));

describe('SqliteRaftStorage durability', () => {
  test('reopening the database gives back the exact log, hard state and snapshot', () => {
    const path = join(dir, 'reopen.db');
    let db = openDb(path);
    let s = new SqliteRaftStorage(db);
    s.save({ term: 3, vote: 'b', commit: 4 }, [{ ...conf(['a', 'b', 'c']), index: 1, term: 1 }, e(2, 1), e(3, 2), e(4, 3), e(5, 3)], null);
    s.save(null, [e(5, 3, 'rewritten'), e(6, 3)], null);
    s.compact(2, 'snap');
    const log = s.entries(3, 7);
    db.close();
    db = openDb(path);
    s = new SqliteRaftStorage(db);
    assert.deepEqual(s.initialState(), { hardState: { term: 3, vote: 'b', commit: 4 }, snapshotConf: { voters: ['a', 'b', 'c'], learners: [] } });
    assert.deepEqual(s.entries(3, 7), log);
    assert.equal(s.entries(5, 6)[0]!.data, 'rewritten');
    assert.deepEqual([s.firstIndex(), s.lastIndex(), s.term(2), s.snapshot().data], [3, 6, 1, 'snap']);
    assert.equal(db.pragma('synchronous', { simple: true }), 2, 'synchronous = FULL');
    db.close();
  });

  test('past its bound of entry data in memory, the oldest entries\' data is read back from disk, through overwrites, compaction and a reopen', () => {
    const path = join(dir, 'bounded.db');
    let db = openDb(path);
    let s = new SqliteRaftStorage(db, 10);
    const big = 'x'.repeat(40);
    s.save(null, [{ ...conf(['a']), index: 1, term: 1 }, e(2, 1, big), e(3, 1), e(4, 1)], null);
    assert.deepEqual(s.entries(1, 5).map((x) => x.data), [JSON.stringify({ voters: ['a'], learners: [] }), big, 'd3', 'd4']);
    s.save(null, [e(3, 2, 'y'.repeat(30)), e(4, 2), { ...conf(['a', 'b']), index: 5, term: 2 }], null);
    assert.deepEqual(s.entries(2, 6).map((x) => [x.term, x.data.slice(0, 3)]), [[1, 'xxx'], [2, 'yyy'], [2, 'd4'], [2, '{"v']]);
    s.compact(4, 'state@4');
    assert.deepEqual(s.entries(5, 6)[0]!.data, JSON.stringify({ voters: ['a', 'b'], learners: [] }));
    s.save(null, [e(6, 2, big)], null);
    s.compact(6, 'state@6');
    assert.deepEqual(s.snapshot().meta.conf, { voters: ['a', 'b'], learners: [] }, 'the membership survives the released data');
    s.save(null, [e(7, 2, big), e(8, 2)], null);
    db.close();
    db = openDb(path);
    s = new SqliteRaftStorage(db, 10);
    assert.deepEqual(s.entries(7, 9).map((x) => x.data), [big, 'd8']);
    db.close();
  });

  test('createRaftTables is idempotent and only creates raft_ tables', () => {
    const db = openDb();
    createRaftTables(db);
    createRaftTables(db);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name);
    assert.deepEqual(tables.sort(), ['raft_entries', 'raft_hard_state', 'raft_snapshot']);
    db.close();
  });

  test('a Raft node restarted on SQLite resumes with its term, vote and log', () => {
    const path = join(dir, 'node.db');
    let db = openDb(path);
    let storage = new SqliteRaftStorage(db);
    let raft = new Raft({ id: 'solo', storage, peers: ['solo'], random: seeded(1) });
    const cycle = () => {
      const rd = raft.ready();
      storage.save(rd.hardState, rd.entries, rd.snapshot);
      raft.advance(rd);
    };
    raft.tick();
    cycle();
    for (let i = 0; i < 5; i++) raft.propose(`cmd${i}`);
    cycle();
    const before = raft.status();
    const log = raft.entries(1, before.lastIndex + 1);
    db.close();
    db = openDb(path);
    storage = new SqliteRaftStorage(db);
    raft = new Raft({ id: 'solo', storage, peers: ['solo'], random: seeded(1), applied: before.applied });
    const now = raft.status();
    assert.deepEqual([now.term, now.vote, now.commit, now.lastIndex], [before.term, before.vote, before.commit, before.lastIndex]);
    assert.deepEqual(raft.entries(1, now.lastIndex + 1), log);
    raft.tick();
    cycle();
    assert.equal(raft.status().role, 'leader');
    assert.equal(raft.status().term, before.term + 1);
    db.close();
  });
});
