/**
 * A real bicycled for the benchmarks: the built dist/daemon/main.js in its
 * own data directory, on a free loopback port, with the repository's
 * config.json (the defaults a user gets; a benchmark may change a section), started and stopped by the
 * benchmark. Its containers are removed on stop, and on a failed run too
 * (through onCleanup).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { DOCKER_SOCKET, onCleanup, ROOT } from './common';

export interface BenchDaemon {
  url: string;
  dataDir: string;
  process: ChildProcess;
  clusterId: string;
  output(): string;
  /** SIGTERM, wait for the exit, remove its containers and (unless keepData) its data directory. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export function daemonPath(): string {
  return join(ROOT, 'dist', 'daemon', 'main.js');
}

export function cliPath(): string {
  return join(ROOT, 'dist', 'cli', 'main.js');
}

type Config = Record<string, unknown> & { deployment?: { concurrency?: number } };

/** The repository's config.json: what a user's bicycled runs on. */
function repositoryConfig(): Config {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'config.json'), 'utf8')) as Config;
  } catch {
    return {};
  }
}

/** deployment.concurrency as a user's bicycled reads it from config.json (8 when absent). */
export function configuredConcurrency(): number {
  return repositoryConfig().deployment?.concurrency ?? 8;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts bicycled and waits until /healthz answers with a leader.
 * `dataDir` may hold a database seeded beforehand.
 */
export async function startDaemon(
  docker: Docker,
  opts: { dataDir?: string; name?: string; config?: Record<string, Record<string, unknown>> } = {},
): Promise<BenchDaemon> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'bicycle-bench-'));
  // config.json with the sections in opts.config merged over it, key by key.
  const config = repositoryConfig();
  for (const [section, values] of Object.entries(opts.config ?? {})) config[section] = { ...(config[section] as object), ...values };
  const configFile = join(dataDir, 'bench-config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [daemonPath(), '--config', configFile, '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--name', opts.name ?? 'bench-1', '--log-level', 'info', '--docker-socket', DOCKER_SOCKET], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((r) => child.once('exit', (code) => ((exitCode = code), r())));
  let clusterId = '';
  const removeContainers = async () => {
    if (!clusterId) return;
    const list = await docker.listContainers({ all: true, filters: { label: [`io.bicycle.cluster=${clusterId}`] } });
    await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  };
  const stop = async (options: { keepData?: boolean } = {}) => {
    if (exitCode === undefined) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    await removeContainers();
    if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
  };
  const forget = onCleanup(() => stop());

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`bicycled exited at start (code ${exitCode}):\n${output}`);
    try {
      const health = (await (await fetch(`${url}/healthz`)).json()) as { leader: string | null };
      if (health.leader) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`bicycled on ${url} did not answer /healthz with a leader within 30 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  clusterId = ((await (await fetch(`${url}/state`)).json()) as { cluster: { id: string } }).cluster.id;
  return {
    url,
    dataDir,
    process: child,
    clusterId,
    output: () => output,
    async stop(options) {
      forget();
      await stop(options);
    },
  };
}

/** One REST call to a benchmark daemon: the parsed JSON answer, or an Error naming the call and the daemon's answer. */
export async function callDaemon(daemon: BenchDaemon, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${daemon.url}${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
