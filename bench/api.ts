/**
 * REST API under load: latency p50/p99 and throughput of GET /state,
 * POST /services and DELETE /services/:name on a real bicycled whose
 * database holds 100 services and 1,000 tasks (seeded before it starts, see
 * seed.ts: every task RUNNING on one of 10 simulated worker nodes, so the
 * engine runs none of them and stays out of the measurement).
 *   GET /state    1 connection (latency), then 10 connections (throughput), 10 s each after a 2 s warm-up;
 *   POST          2,000 requests on 10 connections, each a new name, replicas 0: the service is
 *                 recorded and orchestrated (NEW → RUNNING) but no container is made;
 *   DELETE        the same 2,000 services, 10 connections (answers 202; the orchestrator removes them).
 * So during POST and DELETE the database holds between 100 and 2,100 services.
 * autocannon runs in this process, on the same machine as the daemon.
 * Prints a table and writes bench/results/api.json.
 *   node dist/bench/api.js
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from './bicycled';
import { fixed, requireEngine, runBenchmark, table, TEST_IMAGE, writeResults, sleep } from './common';
import { seedDatabase, SIMULATED_NODES_CONFIG } from './seed';

interface AutocannonResult {
  latency: { p50: number; p99: number; average: number; max: number };
  requests: { total: number; average: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number }>;
}
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}
// autocannon ships no types; this is the part of its API used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (options: {
  url: string;
  connections: number;
  duration?: number;
  amount?: number;
  requests?: (AutocannonRequest & { setupRequest?: (req: AutocannonRequest) => AutocannonRequest })[];
}) => Promise<AutocannonResult>;

const SERVICES = 100;
const TASKS_PER_SERVICE = 10;
const SIMULATED_NODES = 10;
const WRITES = Number(process.env.BENCH_API_WRITES ?? 2_000);
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10);

interface Row {
  endpoint: string;
  connections: number;
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  non2xx: number;
}

function row(endpoint: string, connections: number, r: AutocannonResult): Row {
  return {
    endpoint,
    connections,
    requests: r.requests.total,
    perSecond: Math.round(r.requests.total / r.duration),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

async function main(): Promise<void> {
  const docker = await requireEngine();
  const dataDir = mkdtempSync(join(tmpdir(), 'bicycle-bench-api-'));
  const seeded = seedDatabase(dataDir, { services: SERVICES, tasksPerService: TASKS_PER_SERVICE, simulatedNodes: SIMULATED_NODES });
  const daemon = await startDaemon(docker, { dataDir, config: SIMULATED_NODES_CONFIG });
  const state = (await (await fetch(`${daemon.url}/state`)).json()) as { services: unknown[]; containers?: unknown[]; tasks?: unknown[] };
  const stateBytes = JSON.stringify(state).length;
  const rows: Row[] = [];

  await autocannon({ url: `${daemon.url}/state`, connections: 1, duration: 2 });
  rows.push(row('GET /state', 1, await autocannon({ url: `${daemon.url}/state`, connections: 1, duration: SECONDS })));
  rows.push(row('GET /state', 10, await autocannon({ url: `${daemon.url}/state`, connections: 10, duration: SECONDS })));

  let created = 0;
  const names: string[] = [];
  rows.push(
    row(
      'POST /services',
      10,
      await autocannon({
        url: daemon.url,
        connections: 10,
        amount: WRITES,
        requests: [
          {
            method: 'POST',
            path: '/services',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => {
              const name = `api-${created++}`;
              names.push(name);
              return { ...req, body: JSON.stringify({ name, image: TEST_IMAGE, replicas: 0, command: ['sleep', '3600'] }) };
            },
          },
        ],
      }),
    ),
  );
  let deleted = 0;
  rows.push(
    row(
      'DELETE /services/:name',
      10,
      await autocannon({
        url: daemon.url,
        connections: 10,
        amount: WRITES,
        requests: [{ method: 'DELETE', setupRequest: (req) => ({ ...req, path: `/services/${names[deleted++ % names.length]}` }) }],
      }),
    ),
  );
  // The deletions run on after the answers: wait until only the seeded services are left.
  const deadline = Date.now() + 60_000;
  let left = 0;
  while (Date.now() < deadline) {
    left = ((await (await fetch(`${daemon.url}/services`)).json()) as { services: unknown[] }).services.length;
    if (left === SERVICES) break;
    await sleep(200);
  }
  await daemon.stop();

  console.log(`\nREST API, ${SERVICES} services and ${seeded.tasks} tasks seeded (GET /state answer: ${Math.round(stateBytes / 1024)} KiB)\n`);
  console.log(
    table([
      ['endpoint', 'connections', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'non-2xx'],
      ...rows.map((r) => [r.endpoint, r.connections, r.requests, r.perSecond, fixed(r.p50Ms, 1), fixed(r.p99Ms, 1), fixed(r.maxMs, 1), r.errors, r.non2xx]),
    ]),
  );
  if (left !== SERVICES) console.log(`\nafter the DELETE run, ${left} services were still listed after 60 s (expected ${SERVICES})`);
  const file = writeResults('api', { services: SERVICES, tasks: seeded.tasks, simulatedNodes: SIMULATED_NODES, stateBytes, writes: WRITES, rows, servicesLeftAfterDelete: left });
  console.log(`wrote ${file}`);
}

runBenchmark('bench:api', main);
