/**
 * bench:c1m, Bicycle's take on Nomad's C1M: real bicycled managers on the
 * lab's network (scripts/lab/, each in its own namespace with its own
 * engine, SQLite on disk), simulated workers on worker sessions
 * (test/helpers/sim-agents.ts: they join through the join API, ask a
 * manager for their tasks and report them RUNNING in one batch per answer,
 * as a worker does, without Docker), and TASKS tasks in services of at most
 * 10,000 replicas, spread over the workers (the managers are drained).
 *
 * For each cluster size (3 managers, and 1 as the baseline measured in the
 * same run: the same path without replication) it reports:
 * - placements/s: tasks on a node per second from the first POST /services,
 *   and the time until all are RUNNING;
 * - each manager's CPU (cores, over the placement) and memory (RSS now and
 *   peak), the leader's database and WAL size, its Raft log and snapshot;
 * - idle: the leader's CPU with every worker heartbeating, before any task
 *   (the cost of the workers alone) and once all run (at rest, the
 *   deployment loop's resync passes over every task included);
 * - loss: one worker in ten stops at once; the time until all are DOWN and
 *   until their tasks are RUNNING elsewhere;
 * - with 3 managers, a fourth joins late: the time until it serves the same
 *   counts, and its peak memory.
 *
 * Prints a table and writes bench/results/c1m.json.
 *   npm run bench:c1m
 *   BENCH_C1M_NODES=5000 BENCH_C1M_TASKS=1000000 node dist/bench/c1m.js
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Lab } from '../scripts/lab/lab';
import { startBicycleLab } from './bicycle-lab';
import { fixed, loadAverage, runBenchmark, sleep, table, TEST_IMAGE, writeResults } from './common';
import { SimAgents } from '../test/helpers/sim-agents';

const NODES = Number(process.env.BENCH_C1M_NODES ?? 1000);
const TASKS = Number(process.env.BENCH_C1M_TASKS ?? 100_000);
const SIZES = (process.env.BENCH_C1M_MANAGERS ?? '3,1').split(',').map(Number);
/** Heartbeat (session wait) and host-loss grace: swarmkit's 5 s period with a grace of three periods, scaled down. */
const WAIT_MS = Number(process.env.BENCH_C1M_WAIT_MS ?? 3000);
const GRACE_MS = Number(process.env.BENCH_C1M_GRACE_MS ?? 10_000);
const IDLE_SECONDS = Number(process.env.BENCH_C1M_IDLE_SECONDS ?? 20);
const ELECTION_TICKS = Number(process.env.BENCH_C1M_ELECTION_TICKS ?? 20);
const PER_SERVICE = 10_000;
const DEADLINE_MS = Number(process.env.BENCH_C1M_DEADLINE_MS ?? 1_800_000);
const TICKS_PER_SECOND = 100;

interface Usage {
  cpuSeconds: number;
  rssMiB: number;
  peakMiB: number;
}

function usage(pid: number): Usage {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { cpuSeconds, rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

const pidOf = (lab: Lab, i: number) => Number(readFileSync(join(lab.host(i).dir, 'bicycled.pid'), 'utf8').trim());

async function getJson(url: string): Promise<any> {
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Writes answered 503 (a leader change under way: PROPOSAL_DROPPED, NO_LEADER) and retried, as a client does. */
let retried = 0;

async function send(url: string, method: string, body: unknown): Promise<any> {
  // One key for every attempt: a retried write applies once.
  const key = randomUUID();
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, { method, headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body), signal: AbortSignal.timeout(120_000) });
    const text = await res.text();
    if (res.status === 503 && attempt < 10) {
      retried++;
      await sleep(1000);
      continue;
    }
    if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
    return JSON.parse(text);
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface NodeView { id: string; name: string; status: string; link: string; tasks: number; leader: boolean }

function fileMiB(path: string): number {
  return existsSync(path) ? statSync(path).size / 2 ** 20 : 0;
}

/** The Raft log's entries and bytes, and the snapshot's bytes, read from the leader's database (read-only, beside it). */
function raftSizes(dbPath: string): { entries: number; logMiB: number; snapshotMiB: number } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const log = db.prepare('SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS bytes FROM raft_entries').get() as { n: number; bytes: number };
    const snap = db.prepare('SELECT coalesce(sum(length(data)), 0) AS bytes FROM raft_snapshot').get() as { bytes: number };
    return { entries: log.n, logMiB: log.bytes / 2 ** 20, snapshotMiB: snap.bytes / 2 ** 20 };
  } finally {
    db.close();
  }
}

/** Seconds spent in each reconcile loop's passes so far, from a manager's GET /metrics. */
async function passSeconds(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`${url}/metrics: ${res.status}`);
  const out = new Map<string, number>();
  for (const m of (await res.text()).matchAll(/^bicycle_reconcile_pass_duration_seconds_sum\{[^}]*loop="([a-z]+)"[^}]*\} (\S+)$/gm)) {
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return out;
}

/**
 * The leader's CPU (cores) over IDLE_SECONDS, after 2 s to settle, and of
 * it the share of each reconcile loop's passes (cores, from /metrics).
 */
async function leaderCpu(lab: Lab, leader: number): Promise<{ cores: number; loops: Record<string, number> }> {
  await sleep(2000);
  const from = usage(pidOf(lab, leader));
  const passesFrom = await passSeconds(lab.host(leader).url);
  const started = performance.now();
  await sleep(IDLE_SECONDS * 1000);
  const seconds = (performance.now() - started) / 1000;
  const passesTo = await passSeconds(lab.host(leader).url);
  const loops: Record<string, number> = {};
  for (const [loop, total] of passesTo) loops[loop] = Number(fixed((total - (passesFrom.get(loop) ?? 0)) / seconds, 3));
  return { cores: Number(fixed((usage(pidOf(lab, leader)).cpuSeconds - from.cpuSeconds) / seconds, 3)), loops };
}

async function runSize(managers: number): Promise<Record<string, number | string>> {
  const hosts = managers === 3 ? 4 : managers;
  const lab = await startBicycleLab('bicycle-c1m-', {
    hosts,
    members: managers,
    config: {
      // The daemon's defaults, but for the cluster's replica limit and the grace.
      deployment: { maxReplicas: Math.max(TASKS, 10_000) },
      // An election timeout of 2–3.6 s (20 ticks), not 0.5–0.9: three managers, three engines and the simulated workers share this machine's two cores, and at 0.5 s a manager starved of CPU for a moment starts an election.
      voting: { hostGraceMs: GRACE_MS, electionTicks: ELECTION_TICKS },
    },
  });
  const url = lab.host(1).url;
  const nodes = async (): Promise<NodeView[]> => (await getJson(`${url}/nodes`)).nodes;
  for (const n of await nodes()) await send(`${url}/nodes/${n.id}`, 'PATCH', { availability: 'drain' });
  const agents = new SimAgents({ managers: Array.from({ length: managers }, (_, i) => lab.host(i + 1).url), token: await lab.joinToken(), count: NODES, waitMs: WAIT_MS });
  const joinStarted = performance.now();
  await agents.join();
  const joinSeconds = (performance.now() - joinStarted) / 1000;
  agents.start();
  const leaderIndex = async () => {
    const leader = (await nodes()).find((n) => n.leader)!;
    return lab.hosts.find((h) => h.name === leader.name)!.index;
  };
  const leader = await leaderIndex();
  // Idle: every worker heartbeating, no task yet.
  const idleNodesCores = await leaderCpu(lab, leader);
  const before = Array.from({ length: managers }, (_, i) => usage(pidOf(lab, i + 1)));
  const ownBefore = process.cpuUsage();

  const started = performance.now();
  const services = Math.ceil(TASKS / PER_SERVICE);
  for (let s = 0; s < services; s++) {
    const replicas = Math.min(PER_SERVICE, TASKS - s * PER_SERVICE);
    await send(`${url}/services`, 'POST', { name: `c1m-${s}`, image: TEST_IMAGE, replicas, command: ['sleep', '3600'] });
  }
  let placedSeconds = 0;
  const running = async () => ((await getJson(`${url}/services`)).services as Array<{ running: number }>).reduce((a, s) => a + s.running, 0);
  // Every 2 s: each read of the counts while tasks change costs the manager a pass over the task table (docs/scale.md).
  await until('every task RUNNING', async () => {
    if (placedSeconds === 0) {
      if ((await nodes()).reduce((a, n) => a + n.tasks, 0) >= TASKS) placedSeconds = (performance.now() - started) / 1000;
      return undefined;
    }
    return (await running()) >= TASKS ? true : undefined;
  }, 2000);
  const runningSeconds = (performance.now() - started) / 1000;
  if (placedSeconds === 0) placedSeconds = runningSeconds;
  const after = Array.from({ length: managers }, (_, i) => usage(pidOf(lab, i + 1)));
  const own = process.cpuUsage(ownBefore);
  const dataDir = lab.dataDir(lab.host(leader));
  const dbPath = join(dataDir, 'bicycle.db');
  const sizes = raftSizes(dbPath);
  const result: Record<string, number | string> = {
    managers,
    nodes: NODES,
    tasks: TASKS,
    joinSeconds: Number(fixed(joinSeconds, 1)),
    placementsPerSecond: Math.round(TASKS / placedSeconds),
    placedSeconds: Number(fixed(placedSeconds, 1)),
    runningSeconds: Number(fixed(runningSeconds, 1)),
    leaderCores: Number(fixed((after[leader - 1]!.cpuSeconds - before[leader - 1]!.cpuSeconds) / runningSeconds, 2)),
    followerCores: managers > 1 ? Number(fixed(Math.max(...after.map((u, i) => (i === leader - 1 ? 0 : (u.cpuSeconds - before[i]!.cpuSeconds) / runningSeconds))), 2)) : 0,
    agentsCores: Number(fixed((own.user + own.system) / 1e6 / runningSeconds, 2)),
    leaderRssMiB: Math.round(after[leader - 1]!.rssMiB),
    peakRssMiB: Math.round(Math.max(...after.map((u) => u.peakMiB))),
    dbMiB: Number(fixed(fileMiB(dbPath), 1)),
    walMiB: Number(fixed(fileMiB(dbPath + '-wal'), 1)),
    logEntries: sizes.entries,
    logMiB: Number(fixed(sizes.logMiB, 1)),
    snapshotMiB: Number(fixed(sizes.snapshotMiB, 1)),
  };

  result.idleNodesLeaderCores = idleNodesCores.cores;
  // At rest: every task running, every worker heartbeating, nothing to place (the deployment loop's resync passes included).
  const atRest = await leaderCpu(lab, leader);
  result.atRestLeaderCores = atRest.cores;
  // And the time in each reconcile loop's passes per second (the orchestrator's resync reads every service and task).
  for (const [loop, cores] of Object.entries(atRest.loops)) result[`atRest${loop[0]!.toUpperCase()}${loop.slice(1)}Busy`] = cores;

  // One worker in ten lost at once.
  const lost = agents.ids.slice(0, Math.floor(NODES / 10));
  const lossStarted = performance.now();
  await agents.stop(lost);
  let downSeconds = 0;
  await until('the lost workers DOWN and their tasks RUNNING elsewhere', async () => {
    const listed = (await nodes()).filter((n) => lost.includes(n.id));
    const allDown = listed.every((n) => n.status === 'DOWN');
    if (allDown && downSeconds === 0) downSeconds = (performance.now() - lossStarted) / 1000;
    return allDown && listed.every((n) => n.tasks === 0) && (await running()) >= TASKS ? true : undefined;
  }, 500);
  result.lossDownSeconds = Number(fixed(downSeconds, 1));
  result.lossMovedSeconds = Number(fixed((performance.now() - lossStarted) / 1000, 1));
  result.lossMovedTasks = Math.round((TASKS * lost.length) / NODES);

  if (managers === 3) {
    const summary = async (i: number) => {
      const state = await getJson(`${lab.host(i).url}/state?limit=0`);
      return JSON.stringify([state.containerCounts.total, (state.nodes as NodeView[]).length]);
    };
    const joinStartedAt = performance.now();
    await lab.join(4);
    await until('host-4 to serve the same counts', async () => ((await summary(4)) === (await summary(1)) ? true : undefined), 500);
    result.lateManagerSeconds = Number(fixed((performance.now() - joinStartedAt) / 1000, 1));
    result.lateManagerPeakMiB = Math.round(usage(pidOf(lab, 4)).peakMiB);
  }
  result.agentErrors = agents.stats.errors;
  result.finalTerm = (await getJson(`${url}/state?limit=0`)).cluster.term ?? '—';
  result.retriedWrites = retried;
  retried = 0;
  await agents.stop();
  return result;
}

runBenchmark('bench:c1m', async () => {
  process.stdout.write(`bench:c1m: ${TASKS} tasks on ${NODES} session workers, managers ${SIZES.join(' and ')}; load ${loadAverage()}\n`);
  const results: Record<string, number | string>[] = [];
  for (const managers of SIZES) {
    const r = await runSize(managers);
    results.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  const rows: (string | number)[][] = [['', ...results.map((r) => `${r.managers} manager${r.managers === 1 ? '' : 's'}`)]];
  const keys = Object.keys(results[0]!).filter((k) => k !== 'managers');
  for (const key of keys) rows.push([key, ...results.map((r) => r[key] ?? '—')]);
  process.stdout.write(table(rows) + '\n');
  process.stdout.write(`Nomad's C1M: 1,000,000 containers on 5,000 hosts in under 5 minutes, about 3,750 placements/s.\n`);
  writeResults('c1m', { nodes: NODES, tasks: TASKS, waitMs: WAIT_MS, graceMs: GRACE_MS, load: loadAverage(), results });
});
