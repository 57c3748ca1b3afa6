/**
 * Failover on 3 hosts: a host is lost (its bicycled, its containers and its
 * engine killed at once, as scripts/lab/lab.ts does) while a service of 6
 * replicas runs 2 on each host.
 *   leader killed    kill → (a) a survivor's GET /healthz names another
 *                    leader (polled every 20 ms), (b) the first POST
 *                    /services (replicas 0) a survivor answers 201,
 *                    (c) 6 replicas running on the survivors' own engines
 *                    (label io.bicycle.service, status running);
 *   follower killed  kill → 6 running on the other two hosts' engines.
 * Between runs the host is restarted, every host must see every node READY,
 * and POST /rebalance must have spread the service 2/2/2 again, so every
 * run starts from the same state. BENCH_RUNS runs of each (default 5).
 *
 * Swarm: the same on 3 Swarm managers, each its own dockerd in its own
 * network namespace, joined by a bridge (bench/swarm-cluster.sh); leader
 * from GET /nodes (ManagerStatus.Leader) on a survivor, the write is POST
 * /services with Replicas 0, the replicas are the containers labelled
 * com.docker.swarm.service.name on the survivors' engines. Between runs the
 * engine is started again on its data and `docker service update --force`
 * spreads the tasks 2/2/2. BENCH_SWARM_RUNS runs of each (default 2: a pair
 * takes ~100 s, and the whole benchmark is to stay near 6 minutes); BENCH_SWARM=0 leaves Swarm out.
 *
 * Then the move of a lost host's replicas whose image is not on the
 * survivors, with and without pre-pull (bench/failover-prepull.ts;
 * BENCH_PREPULL=0 leaves it out, BENCH_ONLY=prepull runs only it).
 *
 * Prints the tables and writes bench/results/failover.json and
 * bench/results/failover-prepull.json.
 *   node dist/bench/failover.js
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { freeSubnet, Lab } from '../scripts/lab/lab';
import { waitFor } from '../scripts/lab/wait-for';
import { prepullMoves } from './failover-prepull';
import { fixed, median, onCleanup, requireEngine, ROOT, runBenchmark, sleep, table, TEST_IMAGE, writeResults } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SWARM_RUNS = Number(process.env.BENCH_SWARM_RUNS ?? 2);
const REPLICAS = 6;
const SERVICE = 'web';
const COMMAND = ['sleep', '3600'];
const POLL_MS = 20;
const RUN_TIMEOUT_MS = 90_000;

type System = 'bicycle' | 'swarm';
type Kind = 'leader' | 'follower';
interface Sample {
  system: System;
  kind: Kind;
  run: number;
  killed: string;
  /** Kill → a survivor names a leader other than the killed host (leader runs). */
  leaderMs?: number;
  newLeader?: string;
  /** Kill → the first write a survivor accepted (leader runs). */
  writeMs?: number;
  /** Kill → all replicas running on the other hosts' engines. */
  replicasMs: number;
  /** Write attempts refused or timed out before the first accepted one. */
  writeAttempts?: number;
  loadAverage: string;
}

const exec = promisify(execFile);
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const since = (t0: number) => Math.round(performance.now() - t0);

/** Polls `check` every `intervalMs` until it is true; resolves with the time since t0. */
async function timeUntil(what: string, t0: number, check: () => Promise<boolean>, intervalMs = POLL_MS): Promise<number> {
  const deadline = t0 + RUN_TIMEOUT_MS;
  for (;;) {
    if (await check().catch(() => false)) return since(t0);
    if (performance.now() > deadline) throw new Error(`timed out after ${RUN_TIMEOUT_MS} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Running containers with `label` on each engine (an engine that does not answer counts -1). */
async function runningCounts(engines: Docker[], label: string, all = false): Promise<number[]> {
  return Promise.all(
    engines.map((d) =>
      d.listContainers({ all, filters: { label: [label], ...(all ? {} : { status: ['running'] }) } }).then((l) => l.length, () => -1),
    ),
  );
}

async function fetchJson(url: string, init: RequestInit = {}, timeoutMs = 1000): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/** One request to an engine's API over its unix socket, with a timeout. */
function engineCall(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 2000): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath, method, path, timeout: timeoutMs, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * Tries writes on every survivor in parallel, each with a fresh name, until
 * one answers 201; resolves with the time since t0 and the attempts made.
 */
async function firstWrite(t0: number, survivors: number[], attempt: (survivor: number, name: string) => Promise<number>, tag: string): Promise<{ ms: number; attempts: number }> {
  let done: { ms: number; attempts: number } | undefined;
  let attempts = 0;
  let k = 0;
  await Promise.all(
    survivors.map(async (s) => {
      while (!done) {
        if (performance.now() > t0 + RUN_TIMEOUT_MS) throw new Error('timed out waiting for an accepted write');
        const name = `${tag}-${s}-${k++}`;
        const status = await attempt(s, name).catch(() => 0);
        if (status === 201) {
          if (!done) done = { ms: since(t0), attempts };
          return;
        }
        attempts++;
        await sleep(POLL_MS);
      }
    }),
  );
  return done!;
}

// ---------------------------------------------------------------- Bicycle

async function bicycleLeader(lab: Lab, via: number[]): Promise<string | undefined> {
  for (const i of via) {
    const res = await fetchJson(`${lab.host(i).url}/healthz`, {}, 500).catch(() => undefined);
    if (res?.status === 200 && res.body.leader) return res.body.leader as string;
  }
  return undefined;
}

/** Every host sees every node READY, and the service runs 2 on each host with nothing else of it left. */
async function bicycleSettle(lab: Lab): Promise<void> {
  await lab.settled(60_000);
  const engines = lab.hosts.map((h) => h.docker);
  const label = `io.bicycle.service=${SERVICE}`;
  const spread = async () => {
    const [running, all] = await Promise.all([runningCounts(engines, label), runningCounts(engines, label, true)]);
    return running.every((c) => c === REPLICAS / 3) && all.every((c) => c === REPLICAS / 3);
  };
  if (!(await spread())) {
    const res = await fetchJson(`${lab.host(1).url}/rebalance`, { method: 'POST' }, 10_000);
    if (res.status >= 300) throw new Error(`POST /rebalance answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  await waitFor(`${SERVICE} spread 2/2/2`, spread, 60_000, 250);
  await waitFor('the rebalance to be done', async () => (await fetchJson(`${lab.host(1).url}/services/${SERVICE}`)).body.rebalancing === false, 30_000, 250);
}

async function bicycleRun(lab: Lab, kind: Kind, run: number, followerTurn: number): Promise<Sample> {
  const leaderName = await waitFor('a leader', () => bicycleLeader(lab, [1, 2, 3]), 10_000, 100);
  const leader = Number(leaderName.replace('host-', ''));
  const followers = [1, 2, 3].filter((i) => i !== leader);
  const victim = kind === 'leader' ? leader : followers[followerTurn % 2]!;
  const survivors = [1, 2, 3].filter((i) => i !== victim);
  const engines = survivors.map((i) => lab.host(i).docker);
  const label = `io.bicycle.service=${SERVICE}`;

  const t0 = performance.now();
  // lab.kill kills bicycled synchronously before its first await; then the containers and the engine.
  const killed = lab.kill(victim);
  const replicas = timeUntil(`${REPLICAS} replicas on the survivors`, t0, async () => (await runningCounts(engines, label)).reduce((a, b) => a + b, 0) === REPLICAS, 50);
  let leaderMs: number | undefined;
  let newLeader: string | undefined;
  let write: { ms: number; attempts: number } | undefined;
  if (kind === 'leader') {
    [leaderMs, write] = await Promise.all([
      timeUntil('a new leader', t0, async () => {
        const l = await bicycleLeader(lab, survivors);
        if (l && l !== leaderName) newLeader = l;
        return newLeader !== undefined;
      }),
      firstWrite(t0, survivors, async (s, name) => (await fetchJson(`${lab.host(s).url}/services`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, image: TEST_IMAGE, replicas: 0 }),
      }, 2000)).status, `fo${run}`),
    ]);
  }
  const replicasMs = await replicas;
  await killed;
  const sample: Sample = { system: 'bicycle', kind, run, killed: `host-${victim}`, replicasMs, loadAverage: loadAverage() };
  if (kind === 'leader') Object.assign(sample, { leaderMs, newLeader, writeMs: write!.ms, writeAttempts: write!.attempts });
  await lab.restart(victim);
  await bicycleSettle(lab);
  return sample;
}

async function bicycle(samples: Sample[]): Promise<void> {
  const lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-failover-')), 3, { subnet: freeSubnet() });
  let down: Promise<void> | undefined;
  const tearDown = () => (down ??= lab.down());
  const forget = onCleanup(tearDown);
  try {
    await lab.up();
    const res = await fetchJson(`${lab.host(1).url}/services?wait=true&timeout=60`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: SERVICE, image: TEST_IMAGE, replicas: REPLICAS, command: COMMAND }),
    }, 70_000);
    if (res.status !== 201) throw new Error(`POST /services answered ${res.status}: ${JSON.stringify(res.body)}`);
    await bicycleSettle(lab);
    for (let r = 1; r <= RUNS; r++) {
      for (const kind of ['leader', 'follower'] as const) {
        const s = await bicycleRun(lab, kind, r, r);
        samples.push(s);
        process.stderr.write(`failover: bicycle ${kind} run ${r} (${s.killed}): ${kind === 'leader' ? `leader ${s.leaderMs} ms (${s.newLeader}), write ${s.writeMs} ms, ` : ''}replicas ${s.replicasMs} ms; load ${s.loadAverage}\n`);
      }
    }
  } finally {
    await tearDown();
    forget();
  }
}

// ---------------------------------------------------------------- Swarm

const SWARM_SCRIPT = join(ROOT, 'bench', 'swarm-cluster.sh');

interface SwarmEngine {
  n: number;
  socket: string;
  docker: Docker;
  nodeId: string;
  dir: string;
}

async function swarmLeader(engines: SwarmEngine[]): Promise<string | undefined> {
  for (const e of engines) {
    const res = await engineCall(e.socket, 'GET', '/nodes', undefined, 1000).catch(() => undefined);
    if (res?.status === 200 && Array.isArray(res.body)) {
      const leader = (res.body as Array<{ ID: string; ManagerStatus?: { Leader?: boolean } }>).find((n) => n.ManagerStatus?.Leader);
      if (leader) return leader.ID;
    }
  }
  return undefined;
}

async function swarmSettle(engines: SwarmEngine[]): Promise<void> {
  const label = `com.docker.swarm.service.name=${SERVICE}`;
  await waitFor('every Swarm node Ready, every manager reachable', async () => {
    const res = await engineCall(engines[0]!.socket, 'GET', '/nodes');
    if (res.status !== 200) return false;
    const nodes = res.body as Array<{ Status: { State: string }; ManagerStatus?: { Reachability: string } }>;
    return nodes.length === 3 && nodes.every((n) => n.Status.State === 'ready' && n.ManagerStatus?.Reachability === 'reachable');
  }, 60_000, 250);
  const docker = engines.map((e) => e.docker);
  const spread = async () => (await runningCounts(docker, label)).every((c) => c === REPLICAS / 3);
  if (!(await spread())) {
    const service = engines[0]!.docker.getService(SERVICE);
    const info = (await service.inspect()) as { Version: { Index: number }; Spec: any };
    const spec = info.Spec;
    spec.TaskTemplate.ForceUpdate = (spec.TaskTemplate.ForceUpdate ?? 0) + 1;
    spec.UpdateConfig = { ...(spec.UpdateConfig ?? {}), Parallelism: 0 };
    await service.update({ version: info.Version.Index, ...spec });
  }
  await waitFor(`Swarm ${SERVICE} spread 2/2/2`, spread, 90_000, 250);
  await waitFor('the Swarm update to be done', async () => {
    const info = (await engines[0]!.docker.getService(SERVICE).inspect()) as { UpdateStatus?: { State?: string } };
    return !info.UpdateStatus || ['completed', 'paused', 'rollback_completed'].includes(info.UpdateStatus.State ?? 'completed');
  }, 60_000, 250);
  await sleep(1000);
  if (!(await spread())) throw new Error(`Swarm ${SERVICE} did not stay spread 2/2/2`);
}

/** Kills engine e as a lost machine: its dockerd and its containers' processes at once, then containerd and shims. */
async function swarmKill(e: SwarmEngine): Promise<number> {
  const running = await e.docker.listContainers();
  const pids = await Promise.all(running.map(async (c) => ((await e.docker.getContainer(c.Id).inspect()) as { State: { Pid: number } }).State.Pid));
  const dockerd = Number(readFileSync(join(e.dir, 'dockerd.pid'), 'utf8').trim());
  const t0 = performance.now();
  for (const pid of [dockerd, ...pids]) {
    try {
      if (pid > 0) process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return t0;
}

async function swarmRun(engines: SwarmEngine[], kind: Kind, run: number, followerTurn: number): Promise<Sample> {
  const leaderId = await waitFor('a Swarm leader', () => swarmLeader(engines), 30_000, 100);
  const leader = engines.find((e) => e.nodeId === leaderId)!;
  const followers = engines.filter((e) => e !== leader);
  const victim = kind === 'leader' ? leader : followers[followerTurn % 2]!;
  const survivors = engines.filter((e) => e !== victim);
  const label = `com.docker.swarm.service.name=${SERVICE}`;

  const t0 = await swarmKill(victim);
  const swept = exec(SWARM_SCRIPT, ['kill', String(victim.n)]);
  const replicas = timeUntil(`${REPLICAS} Swarm tasks on the survivors`, t0, async () => (await runningCounts(survivors.map((e) => e.docker), label)).reduce((a, b) => a + b, 0) === REPLICAS, 50);
  let leaderMs: number | undefined;
  let newLeader: string | undefined;
  let write: { ms: number; attempts: number } | undefined;
  if (kind === 'leader') {
    [leaderMs, write] = await Promise.all([
      timeUntil('a new Swarm leader', t0, async () => {
        const l = await swarmLeader(survivors);
        if (l && l !== leaderId) newLeader = `engine ${engines.find((e) => e.nodeId === l)?.n}`;
        return newLeader !== undefined;
      }),
      firstWrite(t0, survivors.map((e) => e.n), async (n, name) => (await engineCall(engines[n - 1]!.socket, 'POST', '/services/create', {
        Name: name,
        TaskTemplate: { ContainerSpec: { Image: TEST_IMAGE, Command: COMMAND } },
        Mode: { Replicated: { Replicas: 0 } },
      }, 2000)).status, `fo${run}`),
    ]);
  }
  const replicasMs = await replicas;
  await swept;
  const sample: Sample = { system: 'swarm', kind, run, killed: `engine ${victim.n}`, replicasMs, loadAverage: loadAverage() };
  if (kind === 'leader') Object.assign(sample, { leaderMs, newLeader, writeMs: write!.ms, writeAttempts: write!.attempts });
  await exec(SWARM_SCRIPT, ['engine', String(victim.n)], { timeout: 60_000 });
  await swarmSettle(engines);
  return sample;
}

async function swarm(samples: Sample[]): Promise<{ error: string } | 'measured'> {
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= exec(SWARM_SCRIPT, ['stop'], { timeout: 120_000 }).then(
    () => undefined,
    (e: Error) => void process.stderr.write(`swarm-cluster stop: ${e.message}\n`),
  ));
  const forget = onCleanup(stop);
  try {
    let sockets: string[];
    try {
      const { stdout } = await exec(SWARM_SCRIPT, ['start'], { timeout: 180_000 });
      sockets = stdout.trim().split('\n').slice(-3).map((s) => s.replace(/^unix:\/\//, ''));
    } catch (error) {
      const e = error as Error & { stderr?: string };
      return { error: (e.stderr || e.message).trim().split('\n').slice(-3).join(' ') };
    }
    const engines: SwarmEngine[] = await Promise.all(
      sockets.map(async (socket, i) => {
        const docker = await requireEngine(socket);
        const info = (await docker.info()) as { Swarm: { NodeID: string } };
        return { n: i + 1, socket, docker, nodeId: info.Swarm.NodeID, dir: join(socket, '..') };
      }),
    );
    await engines[0]!.docker.createService({
      Name: SERVICE,
      TaskTemplate: { ContainerSpec: { Image: TEST_IMAGE, Command: COMMAND, Init: true } as Docker.ContainerSpec },
      Mode: { Replicated: { Replicas: REPLICAS } },
    });
    await swarmSettle(engines);
    for (let r = 1; r <= SWARM_RUNS; r++) {
      for (const kind of ['leader', 'follower'] as const) {
        const s = await swarmRun(engines, kind, r, r);
        samples.push(s);
        process.stderr.write(`failover: swarm ${kind} run ${r} (${s.killed}): ${kind === 'leader' ? `leader ${s.leaderMs} ms (${s.newLeader}), write ${s.writeMs} ms, ` : ''}replicas ${s.replicasMs} ms; load ${s.loadAverage}\n`);
      }
    }
    return 'measured';
  } finally {
    await stop();
    forget();
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  await requireEngine();
  if (process.env.BENCH_ONLY !== 'prepull') await hostLoss();
  if (process.env.BENCH_PREPULL !== '0') await prepull();
}

async function prepull(): Promise<void> {
  const started = performance.now();
  const result = await prepullMoves();
  console.log(`\nA lost host's 2 replicas move; their image (${result.payloadMiB} MiB more than the test image) is in a registry on the lab network (ms; direct: on the survivor's engine)\n`);
  console.log(table([['path', 'runs', 'median', 'worst', 'pulled after the kill'], ...result.rows.map((r) => [r.mode, r.runs, Math.round(r.medianMs), r.worstMs, r.mode.startsWith('direct') ? '-' : `${r.pulls} of ${r.runs}`])]));
  const file = writeResults('failover-prepull', { ...result, durationS: Math.round((performance.now() - started) / 1000) });
  console.log(`wrote ${file}`);
}

async function hostLoss(): Promise<void> {
  const started = performance.now();
  const samples: Sample[] = [];
  await bicycle(samples);
  const swarmStatus = process.env.BENCH_SWARM === '0' ? { error: 'left out (BENCH_SWARM=0)' } : await swarm(samples);
  if (swarmStatus !== 'measured') process.stderr.write(`failover: Swarm is not measured: ${swarmStatus.error}\n`);

  const figures: Array<{ system: System; figure: string; key: 'leaderMs' | 'writeMs' | 'replicasMs'; kind: Kind }> = [
    { system: 'bicycle', kind: 'leader', key: 'leaderMs', figure: 'leader killed → new leader' },
    { system: 'bicycle', kind: 'leader', key: 'writeMs', figure: 'leader killed → first write accepted' },
    { system: 'bicycle', kind: 'leader', key: 'replicasMs', figure: 'leader killed → 6 running on survivors' },
    { system: 'bicycle', kind: 'follower', key: 'replicasMs', figure: 'follower killed → 6 running on the others' },
    { system: 'swarm', kind: 'leader', key: 'leaderMs', figure: 'leader killed → new leader' },
    { system: 'swarm', kind: 'leader', key: 'writeMs', figure: 'leader killed → first write accepted' },
    { system: 'swarm', kind: 'leader', key: 'replicasMs', figure: 'leader killed → 6 running on survivors' },
    { system: 'swarm', kind: 'follower', key: 'replicasMs', figure: 'follower killed → 6 running on the others' },
  ];
  const summary = figures
    .map((f) => {
      const values = samples.filter((s) => s.system === f.system && s.kind === f.kind && s[f.key] !== undefined).map((s) => s[f.key]!);
      return { system: f.system, figure: f.figure, kind: f.kind, key: f.key, runs: values.length, medianMs: median(values), worstMs: values.length ? Math.max(...values) : NaN, samplesMs: values };
    })
    .filter((f) => f.runs > 0);
  const s = (v: number) => fixed(v / 1000, 2);
  console.log(`\nFailover on 3 hosts, 6 replicas (seconds from the kill)\n`);
  console.log(table([['system', 'figure', 'runs', 'median', 'worst'], ...summary.map((f) => [f.system, f.figure, f.runs, s(f.medianMs), s(f.worstMs)])]));
  if (swarmStatus !== 'measured') console.log(`\nSwarm not measured: ${swarmStatus.error}`);
  const file = writeResults('failover', {
    runs: RUNS,
    swarmRuns: SWARM_RUNS,
    replicas: REPLICAS,
    pollMs: { leader: POLL_MS, write: POLL_MS, replicas: 50 },
    swarm: swarmStatus,
    durationS: Math.round((performance.now() - started) / 1000),
    summary,
    samples,
  });
  console.log(`wrote ${file}`);
}

runBenchmark('bench:failover', main);
