/**
 * `--store persisted` against `--store memory`, side by side in one run
 * (docs/benchmarks.md, "The state store"): one bicycled of each in turn, on
 * the repository's config.json, measured the same way: resident memory when
 * idle, the bytes its state takes on disk or on the RAM filesystem, the
 * `POST /services` rate (services of 0 replicas: no container starts) and
 * proposals per second (`PATCH /nodes/:name` label writes, each one Raft
 * entry), each with 16 requests in flight for a fixed time.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type BenchDaemon } from './bicycled';
import { fixed, loadAverage, median, rate, requireEngine, runBenchmark, sleep, table, writeResults } from './common';
import { memoryStoreDir } from '../daemon/memory-store';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 8000);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_RUNS ?? 2);
const IN_FLIGHT = 16;
type Store = 'persisted' | 'memory';

interface Figures {
  store: Store;
  round: number;
  idleRssBytes: number;
  stateBytes: number;
  stateBytesAfter: number;
  createsPerSecond: number;
  proposalsPerSecond: number;
  failed: number;
}

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

/** Median of 4 samples a second over 3 s. */
async function sampledRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 12; i++) {
    samples.push(rssBytes(pid));
    await sleep(250);
  }
  return median(samples);
}

/** The bytes of the database files (bicycle.db, -wal, -shm) where this store keeps them. */
function stateBytes(daemon: BenchDaemon, store: Store): number {
  const dir = store === 'memory' ? memoryStoreDir(daemon.dataDir) : daemon.dataDir;
  return readdirSync(dir).filter((f) => f.startsWith('bicycle.db')).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

async function measure(store: Store, round: number): Promise<Figures> {
  const docker = await requireEngine();
  // The bench daemon takes its options from config.json and the environment; the store from BICYCLE_STORE.
  process.env.BICYCLE_STORE = store;
  let daemon: BenchDaemon;
  try {
    daemon = await startDaemon(docker, { name: 'bench-1' });
  } finally {
    delete process.env.BICYCLE_STORE;
  }
  try {
    await sleep(IDLE_MS);
    const idleRssBytes = await sampledRss(daemon.process.pid!);
    const before = stateBytes(daemon, store);
    const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // Proposals first, on a quiet daemon: each create leaves orchestrator commits behind that would overlap the next phase.
    const proposals = await rate((i) => fetch(`${daemon.url}/nodes/bench-1`, json('PATCH', { labelAdd: { bench: String(i) } })), DURATION_MS, IN_FLIGHT);
    const creates = await rate((i) => fetch(`${daemon.url}/services`, json('POST', { name: `s${round}-${i}`, image: 'bicycle/busybox:test', replicas: 0 })), DURATION_MS, IN_FLIGHT);
    return {
      store,
      round,
      idleRssBytes,
      stateBytes: before,
      stateBytesAfter: stateBytes(daemon, store),
      createsPerSecond: creates.perSecond,
      proposalsPerSecond: proposals.perSecond,
      failed: creates.failed + proposals.failed,
    };
  } finally {
    await daemon.stop();
  }
}

runBenchmark('bench/store', async () => {
  const figures: Figures[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const store of ['persisted', 'memory'] as const) figures.push(await measure(store, round));
  }
  const mib = (b: number) => fixed(b / 1024 / 1024, 1);
  process.stdout.write(`State store benchmark: one bicycled, ${IN_FLIGHT} in flight, ${DURATION_MS / 1000} s each, idle ${IDLE_MS / 1000} s, load ${loadAverage()}\n`);
  process.stdout.write(table([
    ['store', 'round', 'idle RSS MiB', 'database MiB (idle)', 'database MiB (after)', 'POST /services per s', 'proposals/s', 'failed'],
    ...figures.map((f) => [f.store, f.round, mib(f.idleRssBytes), mib(f.stateBytes), mib(f.stateBytesAfter), fixed(f.createsPerSecond, 0), fixed(f.proposalsPerSecond, 0), f.failed]),
  ]) + '\n');
  process.stdout.write(`results: ${writeResults('store', { inFlight: IN_FLIGHT, durationMs: DURATION_MS, idleMs: IDLE_MS, figures })}\n`);
});
