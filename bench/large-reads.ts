/**
 * Large reads of a real bicycled at 100,000 tasks: GET /state, GET /services,
 * GET /services/:name, pages of GET /services/:name/tasks and GET /nodes,
 * each driven by 10 concurrent keep-alive connections for a fixed time, and
 * GET /events read back through the task changes of a scale-up.
 *
 * Two databases are seeded before their daemon starts (seed.ts, through the
 * real apply path): SERVICES services of REPLICAS replicas on NODES
 * simulated nodes (default 100 × 1,000 on 1,000: 100,000 running tasks), and
 * the same shape at 1/100 (10 services × 100 replicas on 10 nodes: 1,000
 * tasks). Baselines in the same run: the same client against a plain
 * node:http server on loopback answering a precomputed body of the same
 * size as each read (the floor of HTTP and JSON transfer), and the same
 * read at 1,000 tasks.
 *
 * /events: the seed writes no log entries, so task changes are made through
 * the daemon's own path, a scale-up of a new service (EVENTS_TASKS replicas:
 * task.create, task.assign each, placed on the simulated nodes, which never
 * start them, in services of at most 10,000); then a client reads GET
 * /events?since=<index before> until the event of a marker service created
 * after them, timed.
 *
 * Prints a table and writes bench/results/large-reads.json.
 *   npm run bench:large-reads
 *   BENCH_LARGE_SECONDS=10 BENCH_LARGE_SERVICES=100 BENCH_LARGE_REPLICAS=1000 BENCH_LARGE_NODES=1000 BENCH_LARGE_EVENTS_TASKS=100000 node dist/bench/large-reads.js
 */
import { createServer, request, Agent } from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { callDaemon, startDaemon, type BenchDaemon } from './bicycled';
import { fixed, loadAverage, percentile, requireEngine, runBenchmark, sleep, table, writeResults } from './common';
import { seedDatabase, SIMULATED_NODES_CONFIG } from './seed';

const SECONDS = Number(process.env.BENCH_LARGE_SECONDS ?? 10);
const CONNECTIONS = 10;
const SERVICES = Number(process.env.BENCH_LARGE_SERVICES ?? 100);
const REPLICAS = Number(process.env.BENCH_LARGE_REPLICAS ?? 1000);
const NODES = Number(process.env.BENCH_LARGE_NODES ?? 1000);
const EVENTS_TASKS = Number(process.env.BENCH_LARGE_EVENTS_TASKS ?? 100_000);
const PAGES = 3;

interface Drive {
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  bytes: number;
  failed: number;
}

/** One GET over `agent`: status, body bytes, and the time to the last byte. */
function get(agent: Agent, url: string): Promise<{ status: number; bytes: number; ms: number; body: Buffer }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, bytes: body.length, ms: performance.now() - started, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * CONNECTIONS requests always in flight, each connection sending its next as
 * the last answer ends, for SECONDS (at least one each); `paths(i)` names the
 * i-th request's path.
 */
async function drive(base: string, paths: (i: number) => string): Promise<Drive> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    // Warm-up: every connection open, the daemon's caches filled.
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => get(agent, base + paths(i))));
    const ms: number[] = [];
    let bytes = 0;
    let failed = 0;
    let next = 0;
    const started = performance.now();
    const end = started + SECONDS * 1000;
    await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      do {
        const r = await get(agent, base + paths(next++));
        if (r.status !== 200) failed++;
        ms.push(r.ms);
        bytes = r.bytes;
      } while (performance.now() < end);
    }));
    const elapsed = (performance.now() - started) / 1000;
    return {
      requests: ms.length, perSecond: ms.length / elapsed,
      p50Ms: percentile(ms, 0.5), p99Ms: percentile(ms, 0.99), maxMs: Math.max(...ms), bytes, failed,
    };
  } finally {
    agent.destroy();
  }
}

/** A plain node:http server answering `body` as JSON to every request: the floor of HTTP and transfer for that size. */
async function floor(body: Buffer): Promise<Drive> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  try {
    return await drive(`http://127.0.0.1:${port}`, () => '/');
  } finally {
    await new Promise((r) => server.close(r));
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The cores a process uses over `ms` while nothing is asked of it. */
async function idleCores(pid: number, ms = 5000): Promise<number> {
  const from = cpuSeconds(pid);
  await sleep(ms);
  return (cpuSeconds(pid) - from) / (ms / 1000);
}

interface Read {
  name: string;
  paths: (i: number) => string;
}

/** The reads measured, the task pages walked by cursor first (PAGES pages of 100, requested in turn). */
async function readsOf(daemon: BenchDaemon): Promise<Read[]> {
  const pagePaths = ['/services/seed-0000/tasks?limit=100'];
  for (let p = 1; p < PAGES; p++) {
    const page = (await callDaemon(daemon, 'GET', pagePaths[p - 1]!)) as { next: string | null };
    if (!page.next) break;
    pagePaths.push(`/services/seed-0000/tasks?limit=100&after=${encodeURIComponent(page.next)}`);
  }
  return [
    { name: 'GET /state', paths: () => '/state' },
    { name: 'GET /state?limit=0', paths: () => '/state?limit=0' },
    { name: 'GET /services', paths: () => '/services' },
    { name: 'GET /services/seed-0000', paths: () => '/services/seed-0000' },
    { name: `GET /services/seed-0000/tasks?limit=100 (${pagePaths.length} pages)`, paths: (i) => pagePaths[i % pagePaths.length]! },
    { name: 'GET /nodes', paths: () => '/nodes' },
  ];
}

interface Measured {
  read: string;
  large: Drive;
  floor: Drive;
  small: Drive;
}

/** Seeds a database of `services` × `replicas` on `nodes` simulated nodes and starts a bicycled on it. */
async function seededDaemon(docker: Docker, services: number, replicas: number, nodes: number, config: Record<string, Record<string, unknown>> = {}): Promise<BenchDaemon> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bicycle-bench-large-'));
  const started = Date.now();
  const seeded = seedDatabase(dataDir, { services, tasksPerService: replicas, simulatedNodes: nodes });
  console.log(`seeded ${seeded.tasks} tasks (${services} services on ${nodes} nodes) in ${Math.round((Date.now() - started) / 1000)} s`);
  const daemon = await startDaemon(docker, { dataDir, config: { ...config, voting: { ...SIMULATED_NODES_CONFIG.voting, ...config.voting } } });
  // The leader's first passes over the seeded rows (orchestrator, scheduler) before anything is timed.
  await sleep(10_000);
  return daemon;
}

/** Bodies of each read, one answer each, for the floor. */
async function bodies(daemon: BenchDaemon, reads: Read[]): Promise<Buffer[]> {
  const agent = new Agent({ keepAlive: true });
  try {
    const out: Buffer[] = [];
    for (const r of reads) out.push((await get(agent, daemon.url + r.paths(0))).body);
    return out;
  } finally {
    agent.destroy();
  }
}

interface EventsRun {
  tasks: number;
  writeSeconds: number;
  entries: number;
  events: number;
  taskEvents: number;
  readSeconds: number;
  eventsPerSecond: number;
  bytes: number;
}

/**
 * Task changes through the daemon's own path: a new service of `tasks`
 * replicas, created and placed by the leader on the simulated nodes; then
 * GET /events from the applied index before it, read until the applied
 * index after it.
 */
async function eventsRun(daemon: BenchDaemon, tasks: number): Promise<EventsRun> {
  const before = await appliedIndex(daemon);
  const writeStarted = performance.now();
  // A service takes at most 10,000 replicas: as many services as that needs, created at once.
  const names: string[] = [];
  for (let left = tasks, i = 0; left > 0; left -= 10_000, i++) {
    const name = `events-scale-${i}`;
    names.push(name);
    await callDaemon(daemon, 'POST', '/services', { name, image: 'bicycle/busybox:test', replicas: Math.min(left, 10_000), command: ['sleep', '3600'] });
  }
  // Placed: every task assigned to a node (the simulated nodes never start them).
  for (;;) {
    const s = (await callDaemon(daemon, 'GET', '/services')) as { services: { name: string; taskCounts: { total: number; byState: Record<string, number> } }[] };
    const mine = s.services.filter((x) => names.includes(x.name));
    const assigned = mine.reduce((sum, x) => sum + (x.taskCounts.byState.ASSIGNED ?? 0), 0);
    if (assigned === tasks) break;
    if (performance.now() - writeStarted > 600_000) throw new Error(`events: ${assigned} of ${tasks} tasks assigned after 600 s`);
    await sleep(500);
  }
  const writeSeconds = (performance.now() - writeStarted) / 1000;
  // A marker after the changes: the read ends at its event (the entries after the last task change may give none).
  await callDaemon(daemon, 'POST', '/services', { name: 'events-marker', image: 'bicycle/busybox:test', replicas: 0 });
  const through = await appliedIndex(daemon);
  const readStarted = performance.now();
  const res = await fetch(`${daemon.url}/events?since=${before}`);
  if (!res.ok || !res.body) throw new Error(`GET /events?since=${before}: ${res.status} ${await res.text()}`);
  let events = 0;
  let taskEvents = 0;
  let bytes = 0;
  let rest = '';
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  outer: for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('GET /events ended before the marker');
    bytes += value.length;
    rest += decoder.decode(value, { stream: true });
    const lines = rest.split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (!line) continue;
      const event = JSON.parse(line) as { type?: string; action?: string; service?: string; error?: unknown };
      if (event.error) throw new Error(`GET /events: ${line}`);
      events++;
      if (event.type === 'task') taskEvents++;
      if (event.type === 'service' && event.action === 'create' && event.service === 'events-marker') break outer;
    }
  }
  const readSeconds = (performance.now() - readStarted) / 1000;
  await reader.cancel();
  return { tasks, writeSeconds, entries: through - before, events, taskEvents, readSeconds, eventsPerSecond: events / readSeconds, bytes };
}

async function appliedIndex(daemon: BenchDaemon): Promise<number> {
  // The events stream from now says nothing of the index; the applied index is read from the database's local_state.
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(join(daemon.dataDir, 'bicycle.db'), { readonly: true, fileMustExist: true });
  try {
    return Number((db.prepare("SELECT value FROM local_state WHERE key = 'applied_index'").pluck().get() as string | undefined) ?? 0);
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  const docker = await requireEngine();
  const loadBefore = loadAverage();
  const tasks = SERVICES * REPLICAS;
  const results: Measured[] = [];

  // The same reads at 1/100 of the size first: the baseline of size.
  const small = await seededDaemon(docker, Math.max(1, SERVICES / 10), Math.max(1, REPLICAS / 10), Math.max(1, NODES / 100));
  const smallDrives: Drive[] = [];
  try {
    for (const r of await readsOf(small)) {
      smallDrives.push(await drive(small.url, r.paths));
      console.log(`small: ${r.name}: p99 ${fixed(smallDrives.at(-1)!.p99Ms)} ms`);
    }
  } finally {
    await small.stop();
  }

  // Events need the whole log: no snapshot (and compaction) while the scale-up is written and read.
  const large = await seededDaemon(docker, SERVICES, REPLICAS, NODES, {
    voting: { snapshotEveryEntries: 10_000_000 },
    deployment: { maxReplicas: tasks + EVENTS_TASKS + 1 },
  });
  let events: EventsRun | undefined;
  let daemonIdleCores = NaN;
  try {
    // What the daemon spends with no reader: at 1,000 simulated nodes, mostly heartbeats to 1,000 learners that never answer.
    daemonIdleCores = await idleCores(large.process.pid!);
    const reads = await readsOf(large);
    const answers = await bodies(large, reads);
    for (const [i, r] of reads.entries()) {
      const largeDrive = await drive(large.url, r.paths);
      console.log(`large: ${r.name}: p99 ${fixed(largeDrive.p99Ms)} ms`);
      results.push({ read: r.name, large: largeDrive, floor: await floor(answers[i]!), small: smallDrives[i]! });
    }
    if (EVENTS_TASKS > 0) events = await eventsRun(large, EVENTS_TASKS);
  } finally {
    await large.stop();
  }

  const kib = (b: number) => (b / 1024).toFixed(b < 10_240 ? 1 : 0);
  console.log(`\n${tasks.toLocaleString('en')} tasks (${SERVICES} services × ${REPLICAS} on ${NODES} simulated nodes), ${CONNECTIONS} keep-alive connections, ${SECONDS} s per read`);
  console.log(`floor: node:http on loopback answering the same bytes; small: the same read at ${(tasks / 100).toLocaleString('en')} tasks\n`);
  const rows: (string | number)[][] = [['read', 'against', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'KiB/answer', 'failed']];
  const count = (n: number) => `${n.toLocaleString('en')} tasks`;
  for (const m of results) {
    for (const [i, [label, d]] of ([[count(tasks), m.large], ['floor', m.floor], [count(tasks / 100), m.small]] as const).entries()) {
      rows.push([i === 0 ? m.read : '', label, fixed(d.perSecond, 0), fixed(d.p50Ms), fixed(d.p99Ms), fixed(d.maxMs), kib(d.bytes), d.failed]);
    }
  }
  console.log(table(rows));
  if (events) {
    console.log(
      `\nGET /events: a scale-up of ${events.tasks.toLocaleString('en')} replicas written and placed in ${fixed(events.writeSeconds)} s (${events.entries} log entries); ` +
        `read back from before it: ${events.events.toLocaleString('en')} events (${events.taskEvents.toLocaleString('en')} of tasks, ${kib(events.bytes)} KiB) in ${fixed(events.readSeconds, 2)} s, ` +
        `${fixed(events.eventsPerSecond, 0)} events/s`,
    );
  }
  const loadAfter = loadAverage();
  console.log(`\nbicycled at ${tasks.toLocaleString('en')} tasks with no reader: ${fixed(daemonIdleCores, 2)} cores; load average before ${loadBefore}, after ${loadAfter}`);
  const file = writeResults('large-reads', { tasks, services: SERVICES, replicas: REPLICAS, nodes: NODES, connections: CONNECTIONS, seconds: SECONDS, loadBefore, loadAfter, daemonIdleCores, results, events });
  console.log(`wrote ${file}`);
}

runBenchmark('bench:large-reads', main);
