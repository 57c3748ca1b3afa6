import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, writeTransaction, type Db } from '../../database/open-database';
import { SqliteStateMachine } from '../../daemon/voting/state-machine';
import type { Command } from '../../database/commands';

/**
 * SQLITE_BUSY despite the busy timeout: in WAL mode a DEFERRED transaction
 * that has read and then writes needs the write lock; when another
 * connection holds it, SQLite does not call the busy handler (waiting could
 * not help a reader whose snapshot may be stale), it fails at once. A write
 * transaction begun IMMEDIATE takes the write lock first, so it waits.
 */

const dir = mkdtempSync(join(tmpdir(), 'bicycle-busy-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

function freshFile(): string {
  const file = join(dir, `db-${++files}.db`);
  openDatabase(file, { migrate: true }).close();
  return file;
}

/**
 * Another connection, in another thread (as the daemon's threads are), takes
 * the write lock, writes a row of local_state and holds the lock for
 * `holdMs` before committing. Resolves once it holds the lock; `done`
 * resolves when its thread has finished.
 */
async function holdWriteLock(file: string, holdMs: number): Promise<{ done: Promise<void> }> {
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    const Database = require(workerData.module);
    const db = new Database(workerData.file);
    db.pragma('busy_timeout = 5000');
    db.exec('BEGIN IMMEDIATE');
    db.prepare("INSERT INTO local_state (key, value) VALUES ('other', 'x') ON CONFLICT(key) DO UPDATE SET value = 'y'").run();
    parentPort.postMessage('locked');
    setTimeout(() => { db.exec('COMMIT'); db.close(); parentPort.postMessage('released'); }, workerData.holdMs);
  `;
  const worker = new Worker(source, { eval: true, workerData: { module: require.resolve('better-sqlite3'), file, holdMs } });
  const done = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return { done };
}

/** The pattern the state machine's apply had: read first, then write, in one transaction. */
function readThenWrite(db: Db): () => void {
  return () => {
    db.prepare("SELECT value FROM local_state WHERE key = 'applied_index'").get();
    db.prepare("INSERT INTO local_state (key, value) VALUES ('mine', '1') ON CONFLICT(key) DO UPDATE SET value = '2'").run();
  };
}

describe('SQLITE_BUSY under a busy timeout', () => {
  test('a DEFERRED transaction that reads then writes fails at once while another connection writes', async () => {
    const file = freshFile();
    const db = openDatabase(file, { busyTimeoutMs: 5000 });
    const other = await holdWriteLock(file, 300);
    const started = Date.now();
    assert.throws(() => db.transaction(readThenWrite(db)).deferred(), (error: Error & { code?: string }) => error.code === 'SQLITE_BUSY');
    // Well under the 5 s busy timeout: the busy handler was never called.
    assert.ok(Date.now() - started < 250, `failed after ${Date.now() - started} ms`);
    await other.done;
    db.close();
  });

  test('the same transaction begun IMMEDIATE (writeTransaction) waits for the other writer, then commits', async () => {
    const file = freshFile();
    const db = openDatabase(file, { busyTimeoutMs: 5000 });
    const other = await holdWriteLock(file, 300);
    const started = Date.now();
    writeTransaction(db, readThenWrite(db))();
    assert.ok(Date.now() - started >= 200, `committed after ${Date.now() - started} ms: it did not wait`);
    assert.equal((db.prepare("SELECT value FROM local_state WHERE key = 'mine'").get() as { value: string }).value, '1');
    assert.equal((db.prepare("SELECT value FROM local_state WHERE key = 'other'").get() as { value: string }).value, 'x');
    await other.done;
    db.close();
  });

  test('the state machine applies committed entries while another thread writes, instead of throwing', async () => {
    const file = freshFile();
    const db = openDatabase(file, { busyTimeoutMs: 5000 });
    const machine = new SqliteStateMachine(db);
    const command: Command = { type: 'cluster.init', clusterId: 'c1', secret: 's', joinToken: 't', at: 1 };
    const other = await holdWriteLock(file, 300);
    const batch = machine.apply([{ index: 1, term: 1, type: 'normal', data: JSON.stringify(command) }]);
    assert.equal(batch.appliedIndex, 1);
    assert.equal(machine.appliedIndex(), 1);
    await other.done;
    db.close();
  });

});
