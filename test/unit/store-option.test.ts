import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../daemon/config';
import { memoryStoreDir, openMemoryStore, removeMemoryStore } from '../../daemon/memory-store';
import { findMemoryPredecessor } from '../../daemon/voting/admission';
import { openDatabase } from '../../database/open-database';
import { setLocal } from '../../database/queries';
import { assertInvalid } from '../helpers/assert-invalid';

const dir = mkdtempSync(join(tmpdir(), 'bicycle-store-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the store option', () => {
  test('persisted by default; memory from the file, BICYCLE_STORE or the flag, the flag winning', () => {
    assert.equal(loadConfig({}).store, 'persisted');
    assert.equal(loadConfig({ env: { BICYCLE_STORE: 'memory' } }).store, 'memory');
    assert.equal(loadConfig({ env: { BICYCLE_STORE: 'memory' }, flags: { store: 'persisted' } }).store, 'persisted');
  });

  test('memory with a fixed cluster (peers) is refused: the restarted node would be the same member with an empty log', () => {
    const peers = [{ name: 'a', address: '127.0.0.1:7071', role: 'manager' }];
    const file = join(dir, 'fixed.json');
    writeFileSync(file, JSON.stringify({ name: 'a', peers, clusterSecret: 'sixteen-chars-secret' }));
    assert.equal(loadConfig({ file }).store, 'persisted');
    assertInvalid(() => loadConfig({ file, flags: { store: 'memory' } }), /store: memory does not go with peers/);
  });

  test('another value is refused, naming the option and the values it takes', () => {
    assertInvalid(() => loadConfig({ flags: { store: 'ram' } }), /store/, /memory or persisted/);
    assertInvalid(() => loadConfig({ env: { BICYCLE_STORE: 'disk' } }), /store: must be memory or persisted/);
  });
});

describe('the memory store directory', () => {
  const ram = join(dir, 'ram');
  mkdirSync(ram);

  test('is private (0700), one per data directory, and fresh at every open', () => {
    const store = openMemoryStore(join(dir, 'data-a'), ram);
    assert.equal(store.dir, memoryStoreDir(join(dir, 'data-a'), ram));
    assert.notEqual(store.dir, memoryStoreDir(join(dir, 'data-b'), ram));
    assert.equal(statSync(store.dir).mode & 0o777, 0o700);
    assert.equal(store.previousNodeId, null);
    writeFileSync(join(store.dir, 'left-over'), 'x');
    removeMemoryStore(store.dir);
    assert.equal(existsSync(store.dir), false);
  });

  test('a directory a killed process left is read for its node id, then emptied', () => {
    const dataDir = join(dir, 'data-c');
    const first = memoryStoreDir(dataDir, ram);
    mkdirSync(first, { mode: 0o700 });
    const db = openDatabase(join(first, 'bicycle.db'), { migrate: true });
    setLocal(db, 'node_id', 'feedc0ffee000001');
    db.close();
    // No owner file: the process that made it is gone.
    const store = openMemoryStore(dataDir, ram);
    assert.equal(store.previousNodeId, 'feedc0ffee000001');
    assert.deepEqual(readdirSync(store.dir), ['owner.pid']);
    removeMemoryStore(store.dir);
  });

  test('a store a live process holds is refused, naming the data directory', () => {
    const dataDir = join(dir, 'data-d');
    const store = openMemoryStore(dataDir, ram);
    // Another live process (this one's parent) holds it.
    writeFileSync(join(store.dir, 'owner.pid'), String(process.ppid));
    assertInvalid(() => openMemoryStore(dataDir, ram), /another bicycled/, /data-d/);
    removeMemoryStore(store.dir);
  });

  test('no RAM filesystem: refused, saying to use persisted', () => {
    assertInvalid(() => openMemoryStore(join(dir, 'data-e'), join(dir, 'no-such-ram')), /store: memory/, /--store persisted/);
  });
});

describe('a memory node\'s predecessor', () => {
  const members = [
    { id: 'a1', name: 'host-1', address: '10.78.0.1:7070', status: 'READY' },
    { id: 'c3', name: 'host-3', address: '10.78.0.3:7070', status: 'DOWN' },
    { id: 'd4', name: 'host-4', address: '10.78.0.4:7070', status: 'READY' },
  ];

  test('a lost member with the same name and address is replaced', () => {
    const found = findMemoryPredecessor(members, { id: 'e5', name: 'host-3', address: '10.78.0.3:7070' });
    assert.equal(found.kind, 'replace');
    assert.equal(found.kind === 'replace' && found.member.id, 'c3');
  });

  test('a member still up is waited for, the message naming it', () => {
    const found = findMemoryPredecessor(members, { id: 'e5', name: 'host-4', address: '10.78.0.4:7070' });
    assert.equal(found.kind, 'wait');
    assert.match(found.kind === 'wait' ? found.message : '', /host-4 \(id d4\).*still up/);
  });

  test('only the same name and the same address make a predecessor', () => {
    assert.equal(findMemoryPredecessor(members, { id: 'e5', name: 'host-3', address: '10.78.0.9:7070' }).kind, 'none');
    assert.equal(findMemoryPredecessor(members, { id: 'e5', name: 'host-9', address: '10.78.0.3:7070' }).kind, 'none');
    assert.equal(findMemoryPredecessor(members, { id: 'c3', name: 'host-3', address: '10.78.0.3:7070' }).kind, 'none');
  });
});
