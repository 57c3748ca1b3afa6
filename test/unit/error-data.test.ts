import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import winston from 'winston';
import Transport from 'winston-transport';
import { BicycleError, describeError, fromErrorData, toErrorData } from '../../daemon/errors';
import { Supervisor } from '../../daemon/supervisor';
import type { WorkerToMain } from '../../daemon/messages';

const dir = mkdtempSync(join(tmpdir(), 'bicycle-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sqliteBusy(): Error {
  return new Database.SqliteError('database is locked', 'SQLITE_BUSY');
}

describe('errors crossing a thread boundary', () => {
  test('an unexpected error keeps its name, message and stack, through a structured clone', () => {
    const data = structuredClone(toErrorData(sqliteBusy()));
    assert.equal(data.code, 'INTERNAL');
    assert.equal(data.name, 'SqliteError');
    assert.equal(data.message, 'database is locked');
    assert.match(data.stack ?? '', /error-data\.test/, 'the stack says where it was thrown');
    assert.equal(describeError(data), 'SqliteError: database is locked');
  });

  test('a structured clone of the SqliteError itself loses its message: why it is turned into data first', () => {
    const cloned = structuredClone(sqliteBusy()) as unknown as Record<string, unknown>;
    assert.equal(cloned.message, undefined);
    assert.deepEqual(cloned, { code: 'SQLITE_BUSY' });
    // Even what is left says something.
    assert.equal(describeError(toErrorData(cloned)), 'INTERNAL: {"code":"SQLITE_BUSY"}');
  });

  test('fromErrorData gives a BicycleError whose cause has the original name and stack, and back again', () => {
    const data = toErrorData(sqliteBusy());
    const error = fromErrorData(data);
    assert.ok(error instanceof BicycleError);
    assert.equal(error.code, 'INTERNAL');
    assert.equal(error.message, 'database is locked');
    assert.equal((error.cause as Error).name, 'SqliteError');
    assert.equal((error.cause as Error).stack, data.stack);
    assert.deepEqual(toErrorData(error), data);
  });

  test('a BicycleError of its own is an answer: code and message only', () => {
    const data = toErrorData(new BicycleError('NO_LEADER', 'no leader is elected yet; retry shortly'));
    assert.deepEqual(data, { code: 'NO_LEADER', message: 'no leader is elected yet; retry shortly' });
    assert.deepEqual(toErrorData(fromErrorData(data)), data);
    assert.equal(describeError(data), 'NO_LEADER: no leader is elected yet; retry shortly');
  });

  test('a thrown string or number becomes INTERNAL with its text', () => {
    assert.deepEqual(toErrorData('boom'), { code: 'INTERNAL', message: 'boom' });
  });
});

/** A thread file that loads the thread runtime (its crash reporter), says ready, then fails as `how` says. */
function crashingThread(how: 'throw' | 'reject'): string {
  const file = join(dir, `crash-${how}.js`);
  writeFileSync(
    file,
    `const runtime = require(${JSON.stringify(require.resolve('../../daemon/thread-runtime'))});
     const { SqliteError } = require(${JSON.stringify(require.resolve('better-sqlite3'))});
     runtime.runThread({ async stop() {} });
     setTimeout(() => {
       ${how === 'throw' ? "throw new SqliteError('database is locked', 'SQLITE_BUSY');" : "Promise.reject(new SqliteError('database is locked', 'SQLITE_BUSY'));"}
     }, 5);`,
  );
  return file;
}

class MemoryTransport extends Transport {
  readonly records: Record<string, unknown>[] = [];
  override log(info: Record<string, unknown>, next: () => void): void {
    this.records.push(info);
    next();
  }
}

describe('a crashed thread', () => {
  for (const how of ['throw', 'reject'] as const) {
    test(`reports why to main before it exits (${how === 'throw' ? 'uncaught exception' : 'unhandled rejection'})`, async () => {
      const worker = new Worker(crashingThread(how), { workerData: {} });
      const messages: WorkerToMain[] = [];
      worker.on('message', (m: WorkerToMain) => messages.push(m));
      const code = await new Promise<number>((resolve) => worker.once('exit', resolve));
      assert.equal(code, 1);
      const crash = messages.find((m): m is Extract<WorkerToMain, { kind: 'crashed' }> => m.kind === 'crashed');
      assert.ok(crash, `no crash report among ${JSON.stringify(messages)}`);
      assert.equal(crash.error.name, 'SqliteError');
      assert.equal(crash.error.message, 'database is locked');
      assert.match(crash.error.stack ?? '', /crash-/);
    });
  }

  test("the supervisor's log line says why (name: message), and the stack at debug", async () => {
    const transport = new MemoryTransport();
    const log = winston.createLogger({ level: 'debug', transports: [transport] });
    const supervisor = new Supervisor({
      base: { config: {} as never, databaseFile: '', nodeId: 'n1' },
      log,
      onFatal: () => undefined,
      threadFile: () => crashingThread('throw'),
      restartDelayMs: { initial: 60_000, max: 60_000 },
    });
    await supervisor.start('voting');
    const deadline = Date.now() + 5000;
    while (!transport.records.some((r) => r.message === 'restarting thread') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await supervisor.stop(['voting']);
    const crashed = transport.records.find((r) => r.message === 'thread crashed');
    assert.ok(crashed, `no crash line among ${transport.records.map((r) => r.message).join(', ')}`);
    assert.equal(crashed.level, 'error');
    assert.equal(crashed.crashed, 'voting');
    assert.equal(crashed.error, 'SqliteError: database is locked');
    const stack = transport.records.find((r) => r.message === 'crashed thread stack');
    assert.equal(stack?.level, 'debug');
    assert.match(String(stack?.stack), /^SqliteError: database is locked\n\s+at /);
    assert.equal(transport.records.filter((r) => r.message === 'thread crashed').length, 1, 'logged once');
  });
});
