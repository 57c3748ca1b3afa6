import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { requireDocker, removeClusterContainers } from './docker';
import { waitFor } from './wait';

const ROOT = resolve(__dirname, '..', '..', '..');

export function cliPath(): string {
  return join(ROOT, 'dist', 'cli', 'main.js');
}

export function daemonPath(): string {
  return join(ROOT, 'dist', 'daemon', 'main.js');
}

export interface TestDaemon {
  url: string;
  dataDir: string;
  name: string;
  listen: string;
  process: ChildProcess;
  /** Everything the daemon printed so far. */
  output(): string;
  /** This daemon's cluster id (its containers carry it as a label). */
  clusterId(): Promise<string>;
  /** SIGTERM and wait for the exit; resolves with the exit code. Removes its containers unless keepContainers. */
  stop(options?: { keepContainers?: boolean }): Promise<number | null>;
  /** SIGKILL, as a crash would; containers stay. */
  kill(): Promise<void>;
  /** Starts a new daemon process on the same data directory and port. */
  restart(): Promise<TestDaemon>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Test tuning: quick stops (the test image's commands exit on SIGTERM under init anyway). */
const TEST_CONFIG = {
  deployment: { concurrency: 8, updateParallelism: 2, resyncIntervalMs: 2000, stopGracePeriodMs: 2000, init: true, autoRebalance: false },
  monitoring: { statsIntervalMs: 1000 },
};

/**
 * Starts a real bicycled (the built dist/daemon/main.js) in its own data
 * directory on a free loopback port, against the local engine, and waits
 * until its API answers.
 */
export async function startDaemon(
  opts: { name?: string; env?: Record<string, string>; dataDir?: string; port?: number; host?: string; config?: Record<string, Record<string, unknown>> } = {},
): Promise<TestDaemon> {
  await requireDocker();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'bicycle-test-'));
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const name = opts.name ?? 'node-1';
  const listen = `${host}:${port}`;
  const configFile = join(dataDir, 'test-config.json');
  // TEST_CONFIG with the sections in opts.config merged over it, key by key.
  const config: Record<string, unknown> = { ...TEST_CONFIG };
  for (const [section, values] of Object.entries(opts.config ?? {})) config[section] = { ...(config[section] as object), ...values };
  writeFileSync(configFile, JSON.stringify(config));
  const child = spawn(process.execPath, [daemonPath(), '--config', configFile], {
    env: { ...process.env, BICYCLE_DATA_DIR: dataDir, BICYCLE_LISTEN: listen, BICYCLE_NAME: name, BICYCLE_LOG_LEVEL: 'debug', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = `http://${listen}`;
  // Off loopback the API needs a token; the daemon's loopback listener (local administration) does not.
  const localUrl = `http://127.0.0.1:${port}`;
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(`bicycled on ${listen} to answer /healthz`, async () => {
    if (gone) throw new Error(`bicycled exited early:\n${output}`);
    const res = await fetch(`${url}/healthz`);
    return res.ok;
  }, 20_000);

  let clusterId: string | undefined;
  const daemon: TestDaemon = {
    url,
    dataDir,
    name,
    listen,
    process: child,
    output: () => output,
    async clusterId() {
      clusterId ??= ((await (await fetch(`${localUrl}/state`)).json()) as { cluster: { id: string } }).cluster.id;
      return clusterId;
    },
    async stop(options = {}) {
      const id = gone ? clusterId : await daemon.clusterId().catch(() => clusterId);
      if (!gone) child.kill('SIGTERM');
      const code = await exited;
      if (!options.keepContainers && id) await removeClusterContainers(await requireDocker(), id);
      return code;
    },
    async kill() {
      await daemon.clusterId().catch(() => undefined);
      child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      return startDaemon({ ...opts, dataDir, port, name });
    },
  };
  return daemon;
}

/** Removes a test data directory. */
export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
