/**
 * Footprint of a real bicycled:
 *  - resident memory (VmRSS of the one process: its four worker threads
 *    share it), idle on an empty database, and idle with 100 services and
 *    1,000 tasks (seeded as in bench/api.ts, see seed.ts), and after 500
 *    GET /state at 1,000 tasks;
 *  - each JavaScript context's V8 heap (main and the four threads: in use
 *    and resident) in those conditions and after the churn below, as the
 *    daemon logs it on SIGUSR2 (Supervisor.logHeaps);
 *  - the SQLite files (bicycle.db, its -wal and -shm) as 100,000 task
 *    changes go through the daemon's own propose path, driven over REST:
 *    with every node drained, `POST /services` (replicas 10: the
 *    orchestrator commits 10 task.create, which no node can take) then
 *    `DELETE /services/:name?wait=true` (task.set-desired SHUTDOWN for the
 *    10, then service.remove deletes their rows): 30 task-row changes per
 *    cycle, in about 6 log entries, 4 cycles at once. The files are sampled
 *    every 10,000 changes to show whether they stay bounded.
 * Prints a table and writes bench/results/footprint.json.
 *   node dist/bench/footprint.js
 */
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { callDaemon, startDaemon, type BenchDaemon } from './bicycled';
import { median, requireEngine, runBenchmark, sleep, table, TEST_IMAGE, writeResults } from './common';
import { seedDatabase, SIMULATED_NODES_CONFIG } from './seed';

const TASK_CHANGES = Number(process.env.BENCH_TASK_CHANGES ?? 100_000);
const REPLICAS = 10;
const CHANGES_PER_CYCLE = 3 * REPLICAS;
const PARALLEL = 4;
/**
 * Rest before each memory sample: a quiet thread gives back the heap pages it
 * grew some seconds after its first idle check (daemon/heap-return.ts), and
 * a daemon is mostly idle.
 */
const SETTLE_MS = 20_000;

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

/** Median RSS over `seconds` of 4 samples a second. */
async function sampleRss(pid: number, seconds = 3): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < seconds * 4; i++) {
    samples.push(rssBytes(pid));
    await sleep(250);
  }
  return median(samples);
}

/** One context's heap as the daemon logs it on SIGUSR2 (daemon/thread-heap.ts). */
interface ContextHeap {
  usedBytes: number;
  residentBytes: number;
  externalBytes: number;
}

const CONTEXTS = ['main', 'monitoring', 'voting', 'deployment', 'rest'] as const;

/**
 * Every context's heap: SIGUSR2, then the `thread heap` lines that follow in
 * the daemon log (one JSON record a line), up to its `process memory` line.
 */
async function readHeaps(daemon: BenchDaemon): Promise<Record<string, ContextHeap>> {
  const file = join(daemon.dataDir, 'bicycled.log');
  const before = existsSync(file) ? readFileSync(file, 'utf8').length : 0;
  daemon.process.kill('SIGUSR2');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    await sleep(200);
    const records = readFileSync(file, 'utf8').slice(before).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    if (!records.some((r) => r.message === 'process memory')) continue;
    const heaps: Record<string, ContextHeap> = {};
    for (const r of records) {
      if (r.message !== 'thread heap') continue;
      heaps[String(r.of)] = { usedBytes: Number(r.usedBytes), residentBytes: Number(r.residentBytes), externalBytes: Number(r.externalBytes) };
    }
    return heaps;
  }
  throw new Error(`bicycled logged no thread heaps within 30 s of SIGUSR2 (${file})`);
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

interface FileSample {
  taskChanges: number;
  seconds: number;
  dbBytes: number;
  walBytes: number;
  shmBytes: number;
  rssBytes: number;
  /** Rows of the replicated log table (raft_entries; command_log before the Raft log), if either is there. */
  logRows: number | null;
}

function sampleFiles(daemon: BenchDaemon, taskChanges: number, startedAt: number): FileSample {
  const file = join(daemon.dataDir, 'bicycle.db');
  let logRows: number | null = null;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      for (const table of ['raft_entries', 'command_log']) {
        if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)) {
          logRows = (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
          break;
        }
      }
    } finally {
      db.close();
    }
  } catch {
    // not readable right now: the sizes are still measured
  }
  return {
    taskChanges,
    seconds: Math.round((Date.now() - startedAt) / 100) / 10,
    dbBytes: fileSize(file),
    walBytes: fileSize(`${file}-wal`),
    shmBytes: fileSize(`${file}-shm`),
    rssBytes: rssBytes(daemon.process.pid!),
    logRows,
  };
}

async function main(): Promise<void> {
  const docker = await requireEngine();
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);

  // Memory, idle and empty.
  let daemon = await startDaemon(docker);
  await sleep(SETTLE_MS);
  const idleEmpty = await sampleRss(daemon.process.pid!);
  const heapsIdleEmpty = await readHeaps(daemon);
  await daemon.stop();

  // Memory with 1,000 tasks.
  const seededDir = mkdtempSync(join(tmpdir(), 'bicycle-bench-footprint-'));
  const seeded = seedDatabase(seededDir, { services: 100, tasksPerService: 10, simulatedNodes: 10 });
  daemon = await startDaemon(docker, { dataDir: seededDir, config: SIMULATED_NODES_CONFIG });
  await sleep(SETTLE_MS);
  const idleSeeded = await sampleRss(daemon.process.pid!);
  const heapsIdleSeeded = await readHeaps(daemon);
  for (let i = 0; i < 500; i++) await callDaemon(daemon, 'GET', '/state');
  const afterStateReads = await sampleRss(daemon.process.pid!);
  await daemon.stop();

  // The files under 100,000 task changes.
  daemon = await startDaemon(docker);
  const nodes = (await callDaemon(daemon, 'GET', '/nodes')) as { nodes: { id: string }[] };
  for (const node of nodes.nodes) await callDaemon(daemon, 'PATCH', `/nodes/${node.id}`, { availability: 'drain' });
  const startedAt = Date.now();
  const files: FileSample[] = [sampleFiles(daemon, 0, startedAt)];
  const cycles = Math.ceil(TASK_CHANGES / CHANGES_PER_CYCLE);
  const sampleEvery = Math.ceil(10_000 / CHANGES_PER_CYCLE);
  let next = 0;
  let done = 0;
  let deleteAnswered404 = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < cycles) {
        const name = `churn-${next++}`;
        await callDaemon(daemon, 'POST', '/services', { name, image: TEST_IMAGE, replicas: REPLICAS, command: ['sleep', '3600'] });
        const res = await fetch(`${daemon.url}/services/${name}?wait=true&timeout=30`, { method: 'DELETE' });
        const answer = (await res.json()) as { state?: string };
        if (res.status === 404) {
          // The daemon answers 404 when the orchestrator removed the service before the handler read it back
          // (the deletion did happen); count it and check that the service is gone.
          deleteAnswered404++;
          if ((await fetch(`${daemon.url}/services/${name}`)).status !== 404) throw new Error(`DELETE ${name} answered 404 but the service is still there`);
        } else if (!res.ok || answer.state !== 'DELETED') {
          throw new Error(`service ${name} was not removed within 30 s: ${res.status} ${JSON.stringify(answer)}`);
        }
        done++;
        if (done % sampleEvery === 0) files.push(sampleFiles(daemon, done * CHANGES_PER_CYCLE, startedAt));
      }
    }),
  );
  files.push(sampleFiles(daemon, done * CHANGES_PER_CYCLE, startedAt));
  const seconds = (Date.now() - startedAt) / 1000;
  await sleep(SETTLE_MS);
  const afterChurn = await sampleRss(daemon.process.pid!);
  const heapsAfterChurn = await readHeaps(daemon);
  files.push({ ...sampleFiles(daemon, done * CHANGES_PER_CYCLE, startedAt), seconds: -1 });
  await daemon.stop();

  console.log('\nResident memory of bicycled (VmRSS, median of 4 samples/s over 3 s)\n');
  console.log(
    table([
      ['condition', 'RSS MiB'],
      ['idle, empty database', mib(idleEmpty)],
      [`idle, ${seeded.tasks} tasks in 100 services`, mib(idleSeeded)],
      [`after 500 GET /state at ${seeded.tasks} tasks`, mib(afterStateReads)],
      [`after ${done * CHANGES_PER_CYCLE} task changes, ${SETTLE_MS / 1000} s idle`, mib(afterChurn)],
    ]),
  );
  const heapColumns = [
    ['idle, empty', heapsIdleEmpty],
    [`idle, ${seeded.tasks} tasks`, heapsIdleSeeded],
    [`after ${done * CHANGES_PER_CYCLE} changes`, heapsAfterChurn],
  ] as const;
  console.log('\nV8 heap of each JavaScript context, in use / resident MiB (SIGUSR2)\n');
  console.log(
    table([
      ['context', ...heapColumns.map(([name]) => name)],
      ...[...CONTEXTS, 'all'].map((context) => [
        context,
        ...heapColumns.map(([, heaps]) => {
          const of = context === 'all' ? Object.values(heaps) : heaps[context] ? [heaps[context]!] : [];
          if (of.length === 0) return '-';
          const sum = (key: keyof ContextHeap) => of.reduce((n, h) => n + h[key], 0);
          return `${mib(sum('usedBytes'))} / ${mib(sum('residentBytes'))}`;
        }),
      ]),
    ]),
  );
  console.log(`\nSQLite files during ${done * CHANGES_PER_CYCLE} task changes (${done} create/delete cycles of ${REPLICAS} replicas, ${Math.round(seconds)} s)\n`);
  console.log(
    table([
      ['task changes', 's', 'bicycle.db MiB', '-wal MiB', '-shm KiB', 'log rows', 'RSS MiB'],
      ...files.map((f) => [
        f.taskChanges, f.seconds < 0 ? 'idle' : f.seconds, mib(f.dbBytes), mib(f.walBytes), Math.round(f.shmBytes / 1024), f.logRows ?? '-', mib(f.rssBytes),
      ]),
    ]),
  );
  if (deleteAnswered404 > 0) console.log(`\n${deleteAnswered404} of ${done} DELETE ?wait=true answered 404 although the deletion happened (a race in the daemon's DELETE handler)`);
  const file = writeResults('footprint', {
    rss: { idleEmptyBytes: idleEmpty, idleSeededBytes: idleSeeded, afterStateReadsBytes: afterStateReads, afterChurnBytes: afterChurn, seededTasks: seeded.tasks },
    heaps: { idleEmpty: heapsIdleEmpty, idleSeeded: heapsIdleSeeded, afterChurn: heapsAfterChurn },
    churn: { taskChanges: done * CHANGES_PER_CYCLE, cycles: done, deleteAnswered404, replicas: REPLICAS, parallel: PARALLEL, seconds, files },
  });
  console.log(`wrote ${file}`);
}

runBenchmark('bench:footprint', main);
