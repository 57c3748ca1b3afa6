/**
 * GET /metrics scrape time on a real bicycled running 100 tasks: one
 * service of 100 replicas (real containers on the local engine) that
 * publishes a port, so every thread's metrics are in the answer (the REST
 * thread's own gauges, the voting and deployment threads' registries, the
 * kernel path's counters read with iptables-save -c). After 20 warm-up
 * scrapes, 200 sequential scrapes over loopback, each timed from the request
 * until the whole answer was read.
 * Prints the median, 90th and 99th percentiles and the answer's size, and
 * writes bench/results/metrics-scrape.json.
 *   node dist/bench/metrics-scrape.js
 */
import { performance } from 'node:perf_hooks';
import { createServer } from 'node:net';
import { startDaemon } from './bicycled';
import { fixed, median, percentile, requireEngine, runBenchmark, table, TEST_IMAGE, writeResults, sleep } from './common';

const TASKS = 100;
const WARMUP = 20;
const SCRAPES = 200;

async function freePublishedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '0.0.0.0', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

runBenchmark('metrics-scrape', async () => {
  const docker = await requireEngine();
  const daemon = await startDaemon(docker);
  const port = await freePublishedPort();
  const created = await fetch(`${daemon.url}/services`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'scraped', image: TEST_IMAGE, replicas: TASKS, command: ['httpd', '-f', '-p', '80', '-h', '/www'], ports: [{ published: port, target: 80 }] }),
  });
  if (created.status !== 201) throw new Error(`cannot create the service: ${created.status} ${await created.text()}`);
  const deadline = Date.now() + 300_000;
  for (;;) {
    const running = ((await (await fetch(`${daemon.url}/services/scraped`)).json()) as { running: number }).running;
    if (running === TASKS) break;
    if (Date.now() > deadline) throw new Error(`only ${running} of ${TASKS} replicas run after 5 minutes`);
    await sleep(500);
  }
  // Let the start-up burst settle (reports, the traffic manager's probes) before measuring.
  await sleep(5000);

  let bytes = 0;
  const scrape = async () => {
    const started = performance.now();
    const res = await fetch(`${daemon.url}/metrics`);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${text}`);
    bytes = Buffer.byteLength(text);
    return performance.now() - started;
  };
  for (let i = 0; i < WARMUP; i++) await scrape();
  const times: number[] = [];
  for (let i = 0; i < SCRAPES; i++) times.push(await scrape());
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  const series = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
  const threads = /bicycle_thread_metrics_fresh/.test(text);
  await daemon.stop();

  const figures = {
    tasks: TASKS,
    scrapes: SCRAPES,
    medianMs: median(times),
    p90Ms: percentile(times, 0.9),
    p99Ms: percentile(times, 0.99),
    maxMs: Math.max(...times),
    answerBytes: bytes,
    series,
    threadMetrics: threads,
  };
  process.stdout.write(table([
    ['tasks', 'scrapes', 'median ms', 'p90 ms', 'p99 ms', 'max ms', 'answer bytes', 'series', 'thread metrics'],
    [TASKS, SCRAPES, fixed(figures.medianMs, 2), fixed(figures.p90Ms, 2), fixed(figures.p99Ms, 2), fixed(figures.maxMs, 2), bytes, series, threads ? 'yes' : 'no'],
  ]) + '\n');
  process.stdout.write(`wrote ${writeResults(process.env.BICYCLE_BENCH_NAME ?? 'metrics-scrape', figures)}\n`);
});
