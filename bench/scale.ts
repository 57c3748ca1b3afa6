/**
 * Scale of a real bicycled: resident memory and the list endpoints' answers
 * at many replicas with their history, the case a fuzzer left behind (29
 * services, 31,790 replicas, 142,687 task rows).
 *
 * The database is seeded before the daemon starts (seed.ts): SERVICES
 * services of REPLICAS_PER_SERVICE replicas on simulated nodes, each slot
 * with its running task and DEAD_PER_SLOT failed ones, so no container is
 * started on this host. Once the task table has stopped changing (a daemon
 * that bounds history prunes first) and 15 s more: RSS idle (median over 3 s), GET /services,
 * GET /state and GET /services/:name (bytes and the median time of 3 calls),
 * RSS after those reads, and the peak RSS of the process (VmHWM).
 * Prints a table and writes bench/results/scale.json.
 *   node dist/bench/scale.js
 *   BENCH_SCALE_SERVICES=30 BENCH_SCALE_REPLICAS=1000 BENCH_SCALE_DEAD=4 node dist/bench/scale.js
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startDaemon, type BenchDaemon } from './bicycled';
import { median, requireEngine, runBenchmark, sleep, table, writeResults } from './common';
import { seedDatabase, SIMULATED_NODES_CONFIG } from './seed';

const SERVICES = Number(process.env.BENCH_SCALE_SERVICES ?? 30);
const REPLICAS_PER_SERVICE = Number(process.env.BENCH_SCALE_REPLICAS ?? 1000);
const DEAD_PER_SLOT = Number(process.env.BENCH_SCALE_DEAD ?? 4);
const SETTLE_MS = 15_000;

function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(status);
  if (!kb) throw new Error(`no ${field} for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

async function sampleRss(pid: number, seconds = 3): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < seconds * 4; i++) {
    samples.push(procStatus(pid, 'VmRSS'));
    await sleep(250);
  }
  return median(samples);
}

interface Read {
  path: string;
  bytes: number;
  medianMs: number;
}

async function timedRead(daemon: BenchDaemon, path: string, times = 3): Promise<Read> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    const res = await fetch(`${daemon.url}${path}`);
    const body = await res.arrayBuffer();
    ms.push(performance.now() - started);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${Buffer.from(body).toString().slice(0, 500)}`);
    bytes = body.byteLength;
  }
  return { path, bytes, medianMs: median(ms) };
}

function countRows(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM tasks').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Waits until the task table has not changed size for 5 s (at most 120 s). */
async function waitForSteadyRows(file: string): Promise<void> {
  let last = -1;
  let since = Date.now();
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const n = countRows(file);
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= 5000) {
      return;
    }
    await sleep(500);
  }
}

async function main(): Promise<void> {
  const docker = await requireEngine();
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const dataDir = mkdtempSync(join(tmpdir(), 'bicycle-bench-scale-'));
  const seedStarted = Date.now();
  const seeded = seedDatabase(dataDir, { services: SERVICES, tasksPerService: REPLICAS_PER_SERVICE, simulatedNodes: 10, deadPerSlot: DEAD_PER_SLOT });
  const replicas = SERVICES * REPLICAS_PER_SERVICE;
  console.log(`seeded ${replicas} replicas, ${seeded.tasks} task rows in ${Math.round((Date.now() - seedStarted) / 1000)} s`);
  const daemon = await startDaemon(docker, { dataDir, config: SIMULATED_NODES_CONFIG });
  const pid = daemon.process.pid!;
  try {
    // Settled: the orchestrator's first passes are done (a daemon that bounds history prunes the seeded rows first).
    await waitForSteadyRows(join(dataDir, 'bicycle.db'));
    await sleep(SETTLE_MS);
    const taskRows = countRows(join(dataDir, 'bicycle.db'));
    const idle = await sampleRss(pid);
    const reads = [
      await timedRead(daemon, '/services'),
      await timedRead(daemon, '/state'),
      await timedRead(daemon, '/services/seed-0000'),
    ];
    const afterReads = await sampleRss(pid);
    const peak = procStatus(pid, 'VmHWM');
    console.log(`\nbicycled with ${replicas} replicas and ${seeded.tasks} task rows (${SERVICES} services)\n`);
    console.log(
      table([
        ['measure', 'value'],
        ['RSS idle, MiB', mib(idle)],
        ['RSS after the reads, MiB', mib(afterReads)],
        ['peak RSS (VmHWM), MiB', mib(peak)],
        ...reads.flatMap((r) => [
          [`GET ${r.path} KiB`, (r.bytes / 1024).toFixed(0)],
          [`GET ${r.path} ms (median of 3)`, r.medianMs.toFixed(0)],
        ]),
      ]),
    );
    console.log(`task rows when measured: ${taskRows}`);
    const file = writeResults('scale', {
      services: SERVICES, replicas, taskRows: seeded.tasks, taskRowsMeasured: taskRows, deadPerSlot: DEAD_PER_SLOT,
      rssIdleBytes: idle, rssAfterReadsBytes: afterReads, peakRssBytes: peak, reads,
    });
    console.log(`wrote ${file}`);
  } finally {
    await daemon.stop();
  }
}

runBenchmark('bench:scale', main);
