import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import winston from 'winston';
import Transport from 'winston-transport';
import { Supervisor } from '../../daemon/supervisor';
import type { ThreadName } from '../../daemon/messages';

const dir = mkdtempSync(join(tmpdir(), 'bicycle-thread-heap-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 2 ** 20;

/** A thread that keeps `holdMiB` of live strings on its heap. */
function holdingThread(holdMiB: number): string {
  const file = join(dir, `hold-${holdMiB}.js`);
  writeFileSync(
    file,
    `const runtime = require(${JSON.stringify(require.resolve('../../daemon/thread-runtime'))});
     globalThis.held = new Array(${holdMiB} * 2 ** 17).fill(0.5); // 8 bytes a double
     runtime.runThread({ async stop() {} });`,
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

test("the supervisor reads each thread's own heap, and main's, and logs them", async () => {
  const transport = new MemoryTransport();
  const files: Partial<Record<ThreadName, string>> = { voting: holdingThread(40), rest: holdingThread(0) };
  const supervisor = new Supervisor({
    base: { config: {} as never, databaseFile: '', nodeId: 'n1' },
    log: winston.createLogger({ level: 'info', transports: [transport] }),
    onFatal: () => undefined,
    threadFile: (thread) => files[thread]!,
  });
  try {
    await supervisor.start('voting');
    await supervisor.start('rest');
    const heaps = await supervisor.heaps();
    assert.deepEqual([...heaps.keys()].sort(), ['main', 'rest', 'voting']);
    const voting = heaps.get('voting')!;
    const rest = heaps.get('rest')!;
    assert.ok(voting.usedBytes > 40 * MiB, `the voting thread holds 40 MiB, it reports ${voting.usedBytes} bytes in use`);
    assert.ok(rest.usedBytes < 20 * MiB, `the rest thread holds nothing of the sort, it reports ${rest.usedBytes} bytes`);
    assert.ok(voting.residentBytes >= voting.usedBytes / 2, 'resident pages of a heap that holds 40 MiB');

    await supervisor.logHeaps();
    const lines = transport.records.filter((r) => r.message === 'thread heap');
    assert.deepEqual(lines.map((r) => r.of).sort(), ['main', 'rest', 'voting']);
    for (const line of lines) assert.equal(typeof line.usedBytes, 'number');
    const memory = transport.records.find((r) => r.message === 'process memory');
    assert.ok(typeof memory?.rssBytes === 'number' && memory.rssBytes > 40 * MiB);
  } finally {
    await supervisor.stop(['rest', 'voting']);
  }
});
