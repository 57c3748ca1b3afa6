/**
 * Converge on one host: from the request to N containers running (N = 10,
 * 50, 100), and from the removal request to none left, timed by watching
 * the engine itself (its container events, at the engine's own event
 * times; then checked against its container list), for
 *   floor        a plain script: create + start N containers straight
 *                through the Docker API, `deployment.concurrency` at once,
 *                with Bicycle's container options (HostConfig.Init, image,
 *                command, labels); removal: stop (grace 10 s) + remove;
 *   bicycle-api  POST /services (and DELETE /services/:name) to a real
 *                bicycled started here with the repository's config.json;
 *   bicycle-cli  `bicycle service add … -- sleep 3600` (waits for converged,
 *                as a user runs it) and `bicycle service rm`;
 *   swarm        Docker Swarm mode on its own dockerd (scripts/swarm-engine.sh):
 *                POST /services with Replicas N (what `docker service
 *                create --replicas N --init` sends), and its removal.
 * The systems take turns within each run (floor, bicycle-api, bicycle-cli,
 * swarm), so a slow spell of the machine falls on all of them. Medians of
 * BENCH_RUNS runs (default 3). BENCH_SWARM=0 leaves Swarm out.
 * BICYCLE_DOCKER_SOCKET puts the floor and Bicycle on another engine than
 * /var/run/docker.sock (e.g. a private one from `SWARM_INIT=0
 * scripts/swarm-engine.sh start`, in its own SWARM_DIR and SWARM_NETNS).
 * Prints a table and writes bench/results/converge.json.
 *   node dist/bench/converge.js
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { callDaemon, cliPath, configuredConcurrency, startDaemon, type BenchDaemon } from './bicycled';
import { DOCKER_SOCKET, fixed, median, onCleanup, requireEngine, ROOT, runBenchmark, TEST_IMAGE, table, writeResults } from './common';
import { EngineWatch } from './engine-watch';

const COUNTS = (process.env.BENCH_COUNTS ?? '10,50,100').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const COMMAND = ['sleep', '3600'];
const STOP_GRACE_S = 10;
const SYSTEMS = ['floor', 'bicycle-api', 'bicycle-cli', 'swarm'] as const;
type System = (typeof SYSTEMS)[number];

interface Sample {
  system: System;
  n: number;
  run: number;
  /** Request sent → the engine started the N-th container. */
  upMs: number;
  /** Removal request sent → the engine destroyed the N-th container. */
  downMs: number;
  /** For the CLI: when `service add` returned (it waits until the service is RUNNING). */
  returnedMs?: number;
}

interface Target {
  docker: Docker;
  /** The label (key=value) that marks this run's containers on that engine. */
  label: string;
  create(): Promise<number | void>;
  remove(): Promise<void>;
}

const run = promisify(execFile);

/** Runs `work` on 0..n-1, `concurrency` at once. */
async function pool(n: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

async function measure(target: Target, n: number): Promise<{ upMs: number; downMs: number; returnedMs?: number }> {
  const timeoutMs = 60_000 + n * 2_000;
  const t0 = Date.now();
  const watch = await EngineWatch.open(target.docker, target.label, t0);
  try {
    const returnedAt = await target.create();
    const upAt = await watch.waitFor('start', n, timeoutMs);
    const running = await target.docker.listContainers({ filters: { label: [target.label], status: ['running'] } });
    if (running.length !== n) throw new Error(`after ${n} starts the engine lists ${running.length} running containers (${target.label})`);
    const t1 = Date.now();
    await target.remove();
    const downAt = await watch.waitFor('destroy', n, timeoutMs);
    const left = await target.docker.listContainers({ all: true, filters: { label: [target.label] } });
    if (left.length !== 0) throw new Error(`after ${n} removals the engine still lists ${left.length} containers (${target.label})`);
    return {
      upMs: Math.round(upAt - t0),
      downMs: Math.round(downAt - t1),
      ...(typeof returnedAt === 'number' ? { returnedMs: returnedAt - t0 } : {}),
    };
  } catch (error) {
    // Leave nothing of a failed run behind on the engine.
    const left = await target.docker.listContainers({ all: true, filters: { label: [target.label] } }).catch(() => []);
    await Promise.all(left.map((c) => target.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    throw error;
  } finally {
    watch.close();
  }
}

function floorTarget(docker: Docker, name: string, n: number, concurrency: number): Target {
  const label = `io.bicycle.bench=${name}`;
  const ids: string[] = [];
  return {
    docker,
    label,
    async create() {
      await pool(n, concurrency, async (i) => {
        const container = await docker.createContainer({
          name: `${name}.${i + 1}`,
          Image: TEST_IMAGE,
          Cmd: COMMAND,
          Env: [],
          Labels: { 'io.bicycle.bench': name, 'io.bicycle.slot': String(i + 1) },
          HostConfig: { Init: true },
        });
        ids.push(container.id);
        await container.start();
      });
    },
    async remove() {
      await pool(ids.length, concurrency, async (i) => {
        const container = docker.getContainer(ids[i]!);
        await container.stop({ t: STOP_GRACE_S }).catch(() => undefined);
        await container.remove({ force: true });
      });
    },
  };
}

function bicycleApiTarget(docker: Docker, daemon: BenchDaemon, name: string, n: number): Target {
  return {
    docker,
    label: `io.bicycle.service=${name}`,
    async create() {
      await callDaemon(daemon, 'POST', '/services', { name, image: TEST_IMAGE, replicas: n, command: COMMAND });
    },
    async remove() {
      await callDaemon(daemon, 'DELETE', `/services/${name}`);
    },
  };
}

function cli(daemon: BenchDaemon, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath(), '--host', daemon.url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bicycle ${args.join(' ')} exited ${code}: ${output.slice(-2000)}`))));
  });
}

function bicycleCliTarget(docker: Docker, daemon: BenchDaemon, name: string, n: number): Target {
  return {
    docker,
    label: `io.bicycle.service=${name}`,
    async create() {
      await cli(daemon, ['service', 'add', name, '--image', TEST_IMAGE, '--replicas', String(n), '--', ...COMMAND]);
      return Date.now();
    },
    async remove() {
      await cli(daemon, ['service', 'rm', name]);
    },
  };
}

function swarmTarget(docker: Docker, name: string, n: number): Target {
  let service: Docker.Service | undefined;
  return {
    docker,
    label: `com.docker.swarm.service.name=${name}`,
    async create() {
      service = await docker.createService({
        Name: name,
        TaskTemplate: { ContainerSpec: { Image: TEST_IMAGE, Command: COMMAND, Init: true, StopGracePeriod: STOP_GRACE_S * 1e9 } as Docker.ContainerSpec },
        Mode: { Replicated: { Replicas: n } },
      });
    },
    async remove() {
      await service!.remove();
    },
  };
}

/** Starts the Swarm-mode engine; on failure, why (the figures are then taken without Swarm). */
async function startSwarm(): Promise<{ docker: Docker } | { error: string }> {
  const script = join(ROOT, 'scripts', 'swarm-engine.sh');
  onCleanup(async () => {
    await run(script, ['stop']).catch((e: Error) => process.stderr.write(`swarm-engine stop: ${e.message}\n`));
  });
  try {
    const { stdout } = await run(script, ['start'], { timeout: 120_000 });
    const socketPath = stdout.trim().split('\n').pop()!.replace(/^unix:\/\//, '');
    return { docker: await requireEngine(socketPath) };
  } catch (error) {
    const e = error as Error & { stderr?: string };
    return { error: (e.stderr || e.message).trim().split('\n').slice(-3).join(' ') };
  }
}

/**
 * The engine's default bridge must exist, or no container starts on it
 * ("could not find bridge docker0"): say so before measuring anything.
 */
async function requireBridge(docker: Docker): Promise<void> {
  const info = (await docker.getNetwork('bridge').inspect()) as { Options?: Record<string, string> };
  const name = info.Options?.['com.docker.network.bridge.name'] ?? 'docker0';
  if (!existsSync(`/sys/class/net/${name}`)) {
    throw new Error(
      `the engine's bridge ${name} is missing, so no container can start on it. Another dockerd started in this ` +
        'network namespace with --bridge=none deletes it; recreate it (ip link add docker0 type bridge, with its address) or restart the engine.',
    );
  }
}

async function main(): Promise<void> {
  const docker = await requireEngine();
  if (DOCKER_SOCKET === '/var/run/docker.sock') await requireBridge(docker);
  const concurrency = configuredConcurrency();
  const swarm = process.env.BENCH_SWARM === '0' ? { error: 'left out (BENCH_SWARM=0)' } : await startSwarm();
  if ('error' in swarm) process.stderr.write(`converge: Swarm is not measured: ${swarm.error}\n`);
  const daemon = await startDaemon(docker);
  const tag = Date.now().toString(36);
  const samples: Sample[] = [];
  for (const n of COUNTS) {
    for (let r = 1; r <= RUNS; r++) {
      for (const system of SYSTEMS) {
        const name = `conv-${tag}-${system.replace('bicycle-', '')}-${n}-${r}`;
        let target: Target;
        if (system === 'floor') target = floorTarget(docker, name, n, concurrency);
        else if (system === 'bicycle-api') target = bicycleApiTarget(docker, daemon, name, n);
        else if (system === 'bicycle-cli') target = bicycleCliTarget(docker, daemon, name, n);
        else if ('docker' in swarm) target = swarmTarget(swarm.docker, name, n);
        else continue;
        const m = await measure(target, n);
        samples.push({ system, n, run: r, ...m });
        process.stderr.write(`converge: ${system} n=${n} run ${r}: up ${m.upMs} ms, down ${m.downMs} ms\n`);
      }
    }
  }
  await daemon.stop();

  const med = (system: System, n: number, key: 'upMs' | 'downMs' | 'returnedMs') =>
    median(samples.filter((s) => s.system === system && s.n === n && s[key] !== undefined).map((s) => s[key]!));
  const summary = COUNTS.map((n) => {
    const row: Record<string, number> = { n };
    for (const system of SYSTEMS) {
      row[`${system}.upMs`] = med(system, n, 'upMs');
      row[`${system}.downMs`] = med(system, n, 'downMs');
    }
    row['bicycle-cli.returnedMs'] = med('bicycle-cli', n, 'returnedMs');
    return row;
  });
  const s = (v: number) => (Number.isFinite(v) ? (v / 1000).toFixed(2) : '-');
  const ratio = (a: number, b: number) => fixed(a / b, 2);
  console.log(`\nConverge on one host: request → N containers running, as the engine saw it (median of ${RUNS} runs, seconds; concurrency ${concurrency})\n`);
  console.log(
    table([
      ['N', 'floor', 'bicycle API', 'bicycle CLI', 'CLI returned', 'swarm', 'API/floor', 'CLI/floor', 'API/swarm'],
      ...summary.map((r) => [
        r.n!, s(r['floor.upMs']!), s(r['bicycle-api.upMs']!), s(r['bicycle-cli.upMs']!), s(r['bicycle-cli.returnedMs']!), s(r['swarm.upMs']!),
        ratio(r['bicycle-api.upMs']!, r['floor.upMs']!), ratio(r['bicycle-cli.upMs']!, r['floor.upMs']!), ratio(r['bicycle-api.upMs']!, r['swarm.upMs']!),
      ]),
    ]),
  );
  console.log(`\nRemoval: request → none of them left on the engine (median, seconds)\n`);
  console.log(
    table([
      ['N', 'floor', 'bicycle API', 'bicycle CLI', 'swarm', 'API/floor', 'API/swarm'],
      ...summary.map((r) => [
        r.n!, s(r['floor.downMs']!), s(r['bicycle-api.downMs']!), s(r['bicycle-cli.downMs']!), s(r['swarm.downMs']!),
        ratio(r['bicycle-api.downMs']!, r['floor.downMs']!), ratio(r['bicycle-api.downMs']!, r['swarm.downMs']!),
      ]),
    ]),
  );
  if ('error' in swarm) console.log(`\nSwarm not measured: ${swarm.error}`);
  const file = writeResults('converge', { runs: RUNS, concurrency, swarm: 'error' in swarm ? { error: swarm.error } : 'measured', summary, samples });
  console.log(`wrote ${file}`);
}

runBenchmark('bench:converge', main);
