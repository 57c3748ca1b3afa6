/**
 * Shared pieces of the benchmarks (not the Raft ones): tables, medians and
 * percentiles, the machine's load and busy share, the results directory,
 * the engine check, and cleanup that runs on failure and on SIGINT/SIGTERM
 * too.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';

/** The repository root, seen from dist/bench/. */
export const ROOT = join(__dirname, '..', '..');
export const TEST_IMAGE = 'bicycle/busybox:test';
export const DOCKER_SOCKET = process.env.BICYCLE_DOCKER_SOCKET ?? '/var/run/docker.sock';

/** The 1-, 5- and 15-minute load averages, as /proc/loadavg prints them. */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** The nearest-rank percentile q (0–1) of `values`; NaN when there are none. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Clock ticks of both CPUs since boot (/proc/stat): busy (all but idle and iowait) and in all. */
export function machineTicks(): { busy: number; total: number } {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const n = v.map(Number);
  const all = n.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: all - n[3]! - n[4]!, total: all };
}

/** The machine's busy share, in %, between two machineTicks() readings. */
export function busyPct(from: { busy: number; total: number }, to: { busy: number; total: number }): number {
  return Math.round((1000 * (to.busy - from.busy)) / Math.max(1, to.total - from.total)) / 10;
}

/** Running containers labelled `label` on each engine, in the engines' order. */
export async function containersByEngine(engines: readonly Docker[], label: string): Promise<Docker.ContainerInfo[][]> {
  return Promise.all(engines.map((d) => d.listContainers({ filters: { label: [label], status: ['running'] } })));
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Formats a table of rows (first row: the header) with aligned columns. */
export function table(rows: readonly (readonly (string | number)[])[]): string {
  const text = rows.map((r) => r.map((c) => String(c)));
  const widths = text[0]!.map((_, i) => Math.max(...text.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(text[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...text.slice(1).map(line)].join('\n');
}

export function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** The machine a figure was taken on, recorded beside it. */
export function machine(): Record<string, string | number> {
  const run = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 }).trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    kernel: run('uname', ['-r']),
    node: process.version,
    docker: run('docker', ['-H', `unix://${DOCKER_SOCKET}`, 'version', '--format', '{{.Server.Version}}']),
    dockerSocket: DOCKER_SOCKET,
    loadAverage: loadAverage(),
  };
}

/** Writes bench/results/<name>.json with the machine and the time beside the figures. */
export function writeResults(name: string, figures: unknown): string {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ takenAt: new Date().toISOString(), machine: machine(), ...(figures as object) }, null, 2) + '\n');
  return file;
}

/**
 * The engine a benchmark needs: fails with a clear message when none
 * answers at `socketPath` or the test image is missing there.
 */
export async function requireEngine(socketPath = DOCKER_SOCKET): Promise<Docker> {
  const docker = new Docker({ socketPath });
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(
      `this benchmark needs a Docker engine at ${socketPath}, and none answers (${(error as Error).message}). ` +
        'Start one (dockerd), or run bash .ci/run, which installs and starts it.',
    );
  }
  try {
    await docker.getImage(TEST_IMAGE).inspect();
  } catch {
    throw new Error(`this benchmark needs the image ${TEST_IMAGE} on the engine at ${socketPath}; build it with scripts/build-test-images.sh`);
  }
  return docker;
}

const cleanups: (() => Promise<void> | void)[] = [];

/** Registers an undo step; steps run last-in first-out, at the end, on failure, and on SIGINT/SIGTERM. */
export function onCleanup(step: () => Promise<void> | void): () => void {
  cleanups.push(step);
  return () => {
    const i = cleanups.lastIndexOf(step);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const step = cleanups.pop()!;
    try {
      await step();
    } catch (error) {
      process.stderr.write(`cleanup: ${(error as Error).message}\n`);
    }
  }
}

/** Runs a benchmark's main, cleaning up whatever way it ends; exits 1 with the message on failure. */
export function runBenchmark(name: string, main: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${name}: ${signal}, cleaning up\n`);
    void runCleanups().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main()
    .then(runCleanups, async (error: unknown) => {
      process.stderr.write(`${name}: ${(error as Error)?.stack ?? String(error)}\n`);
      await runCleanups();
      process.exit(1);
    })
    .then(() => process.exit(0));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Requests per second that `send` manages with `inFlight` requests always
 * in flight for `durationMs`, and how many failed (a rejection or a status
 * other than 2xx). `send` gets a running number, for unique names.
 */
export async function rate(send: (i: number) => Promise<Response>, durationMs: number, inFlight: number): Promise<{ perSecond: number; failed: number }> {
  const end = Date.now() + durationMs;
  let done = 0;
  let failed = 0;
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (Date.now() < end) {
      const res = await send(next++).catch(() => undefined);
      await res?.arrayBuffer();
      if (res?.ok) done++;
      else failed++;
    }
  }));
  return { perSecond: done / (durationMs / 1000), failed };
}
