/**
 * Published ports on three hosts, from this machine's namespace (the lab's
 * client leg), beside Docker Swarm's publishing, in one run.
 *
 * Bicycle: a 3-host lab (scripts/lab/), a service `web` of 1 replica
 * (busybox httpd, a 200 MiB file written at start) published 8080:80
 * (ingress). Host L runs the replica, host R does not.
 *   floor   the replica's container address (a route to L's engine bridge
 *           via L for the run): the server alone, no published port;
 *   local   L:8080, the kernel's DNAT to the local replica;
 *   remote  R:8080, the Node.js hop on R, then L's kernel.
 * Swarm: bench/swarm-cluster.sh (3 engines, 3 managers, 10.77.0.x), the
 * same service with `-p 8080:80`. Its routing mesh needs IPVS in the
 * kernel; when no node answers on the published port, the service is
 * created again with `--publish mode=host` (the engine's own port mapping
 * on the task's node), which has a local path only. Swarm's containers sit
 * on 172.17.0.0/16, the machine's own docker0 subnet, so no route to them is
 * added: the Bicycle floor is the floor of both.
 *
 * Each path, in ROUNDS interleaved rounds (default 4, each taking the paths
 * in the opposite order of the one before, so that a slow spell of the
 * machine does not fall on one path): 0.5 s warm-up; request rate and
 * latency with 8 connections (BENCH_TRAFFIC_SECONDS, default 2.5 s per
 * round); latency with 1 connection (1.5 s); one 200 MiB download on one
 * connection. Each round begins with 2 s of rest, whose CPU is subtracted.
 * Every request is a new connection: busybox httpd closes after each
 * response. The client is a small closed loop on raw sockets (not
 * autocannon, whose latency is wrong against a server that closes: see
 * docs/benchmarks.md); autocannon's request count on the floor is recorded
 * beside it as a check of the client. CPU per path comes from /proc.
 *
 * Then a rolling update of 6 replicas, parallelism 2, under a loop of 8
 * connections through all three hosts (scripts/lab/http-load.ts):
 * `PATCH /services/web {env}` for Bicycle, `docker service update --env-add`
 * for Swarm (start-first with the routing mesh; with host-mode ports only
 * stop-first can place the new task, and only one replica fits per node).
 *
 * Prints the tables and writes bench/results/traffic.json.
 *   node dist/bench/traffic.js      (root: namespaces, engines, a route)
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import type { Lab } from '../scripts/lab/lab';
import { getOnce } from '../scripts/lab/http-load';
import { waitFor } from '../scripts/lab/wait-for';
import { labApi as api, startBicycleLab } from './bicycle-lab';
import { containersByEngine, fixed, loadAverage, machineTicks, median, onCleanup, percentile, requireEngine, runBenchmark, sleep, table, TEST_IMAGE, writeResults } from './common';
import { underLoad, type LoadWindow } from './load-window';
import { meshProblem, removeSwarmService, startSwarmLab, swarmDocker, type SwarmLab } from './swarm-lab';

const SECONDS = Number(process.env.BENCH_TRAFFIC_SECONDS ?? 2.5);
const ROUNDS = Number(process.env.BENCH_TRAFFIC_ROUNDS ?? 4);
const LATENCY_SECONDS = 1.5;
const WARMUP_SECONDS = 0.5;
const IDLE_SECONDS = 2;
const CONNECTIONS = 8;
const BULK_MIB = 200;
const UPDATE_REPLICAS = 6;
const PARALLELISM = 2;
const PORT = 8080;
const SERVICE = 'web';
const HTTPD = ['httpd', '-f', '-p', '80', '-h', '/www'];
const BULK_COMMAND = ['sh', '-c', `dd if=/dev/zero of=/www/big bs=1M count=${BULK_MIB} 2>/dev/null && exec ${HTTPD.join(' ')}`];
const SWARM_LABEL = `com.docker.swarm.service.name=${SERVICE}`;
const BICYCLE_LABEL = `io.bicycle.service=${SERVICE}`;

const exec = promisify(execFile);

// ---------------------------------------------------------------- the client

interface Timed {
  us: number;
  bytes: number;
}

/**
 * One GET on a new connection, as busybox httpd serves them (it closes after
 * each response): µs from connect() to the server's end of the response,
 * and the bytes received. Rejects on an error, a status other than 200, or
 * after timeoutMs.
 */
function getTimed(host: string, port: number, path: string, timeoutMs = 5000, localPort?: number): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let head = '';
    let bytes = 0;
    const socket = connect({ host, port, noDelay: true, ...(localPort ? { localPort } : {}) });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timed out')));
    socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      if (head.length < 12) head += chunk.toString('latin1', 0, 12 - head.length);
      bytes += chunk.length;
    });
    socket.once('end', () => {
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      socket.destroy();
      if (/^HTTP\/1\.[01] 200/.test(head)) resolve({ us, bytes });
      else reject(new Error(`answered ${JSON.stringify(head) || 'nothing'}`));
    });
    socket.once('error', reject);
  });
}

interface LoopResult {
  requests: number;
  failed: number;
  errors: Record<string, number>;
  /** Source ports skipped because another socket held them. */
  busyPorts: number;
  seconds: number;
  latenciesUs: number[];
}

/**
 * Source ports of one path's client, in turn from a range of its own below
 * the ephemeral range. The floor and the local path reach the same server
 * from the same client address, but through different destination addresses
 * (the container's, the host's), so the client's kernel reuses a source port
 * the server still holds in TIME_WAIT from the other path, with TCP
 * timestamps from another clock (Linux offsets them per address pair): the
 * server refuses the SYN as old (PAWS) and the client sends it again after
 * 1 s. Measured before this: 23–246 SYNs sent again per 2.5 s run on those
 * two paths only, rate falling round after round. Disjoint ranges keep each
 * path's reuse within its own clock, where TIME_WAIT takes the new SYN.
 */
class SourcePorts {
  private next: number;

  constructor(private readonly from: number, private readonly to: number) {
    this.next = from;
  }

  take(): number {
    const port = this.next;
    this.next = port + 1 >= this.to ? this.from : port + 1;
    return port;
  }
}

/** Port ranges per path (index), 4,500 each from 10000: below the ephemeral range (32768–60999 here). */
const sourcePorts = new Map<string, SourcePorts>();
function portsOf(pathId: string): SourcePorts {
  let ports = sourcePorts.get(pathId);
  if (!ports) {
    const from = 10_000 + sourcePorts.size * 4_500;
    if (from + 4_500 > 32_768) throw new Error('too many paths for the source-port ranges');
    ports = new SourcePorts(from, from + 4_500);
    sourcePorts.set(pathId, ports);
  }
  return ports;
}

/** `connections` workers, each a GET on a new connection after the other, for `seconds`, from `ports`. */
async function closedLoop(host: string, port: number, connections: number, seconds: number, ports: SourcePorts): Promise<LoopResult> {
  const latenciesUs: number[] = [];
  const errors: Record<string, number> = {};
  let failed = 0;
  let busyPorts = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        try {
          latenciesUs.push((await getTimed(host, port, '/', 5000, ports.take())).us);
        } catch (error) {
          // A source port some other socket of this machine holds: not the path's failure, take the next.
          if (['EADDRINUSE', 'EADDRNOTAVAIL'].includes((error as NodeJS.ErrnoException).code ?? '')) {
            busyPorts++;
            continue;
          }
          failed++;
          const key = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
          errors[key] = (errors[key] ?? 0) + 1;
        }
      }
    }),
  );
  return { requests: latenciesUs.length, failed, errors, busyPorts, seconds: (performance.now() - t0) / 1000, latenciesUs };
}

interface AutocannonResult {
  requests: { total: number };
  duration: number;
  errors: number;
  non2xx: number;
}
// autocannon ships no types; this is the part of its API used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (options: { url: string; connections: number; duration: number }) => Promise<AutocannonResult>;

// ---------------------------------------------------------------- CPU from /proc

const CLOCK_TICK_MS = 10; // USER_HZ is 100 on Linux

interface Cpu {
  userMs: number;
  sysMs: number;
}

/** User and system CPU of a process (with its reaped children's when `children`), in ms; NaN when it is gone. */
function processCpu(pid: number, children = false): Cpu {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ').map(Number);
    // After "pid (comm) ": utime, stime, cutime, cstime are fields 14–17 of the line, 12–15 here (from 1).
    return { userMs: (f[11]! + (children ? f[13]! : 0)) * CLOCK_TICK_MS, sysMs: (f[12]! + (children ? f[14]! : 0)) * CLOCK_TICK_MS };
  } catch {
    return { userMs: NaN, sysMs: NaN };
  }
}

const minus = (a: Cpu, b: Cpu): Cpu => ({ userMs: a.userMs - b.userMs, sysMs: a.sysMs - b.sysMs });
const total = (c: Cpu) => c.userMs + c.sysMs;

/** The server process of a container: its first process, or the child of the init the engine put in front of it. */
function serverPid(containerPid: number): number {
  try {
    const comm = readFileSync(`/proc/${containerPid}/comm`, 'utf8').trim();
    if (comm !== 'docker-init' && comm !== 'tini') return containerPid;
    const child = readFileSync(`/proc/${containerPid}/task/${containerPid}/children`, 'utf8').trim().split(/\s+/)[0];
    return child ? Number(child) : containerPid;
  } catch {
    return containerPid;
  }
}

/** TcpExt counters of the network namespace `pid` is in (this process's when omitted). */
function tcpCounters(pid?: number): Record<string, number> {
  try {
    const lines = readFileSync(`/proc/${pid ?? 'self'}/net/netstat`, 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0]!.split(' ').slice(1);
    const values = lines[1]!.split(' ').slice(1).map(Number);
    return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
  } catch {
    return {};
  }
}

/** What made connections wait, during a run: the client's SYNs sent again, and connections the server's listen queue dropped. */
const TCP_COUNTERS = ['TCPSynRetrans', 'TCPTimeouts', 'ListenOverflows', 'ListenDrops'] as const;

async function withTcp<T>(namespaces: Record<string, number | undefined>, work: () => Promise<T>): Promise<{ result: T; tcp: Record<string, Record<string, number>> }> {
  const before = Object.fromEntries(Object.entries(namespaces).map(([k, pid]) => [k, tcpCounters(pid)]));
  const result = await work();
  const tcp = Object.fromEntries(
    Object.entries(namespaces).map(([k, pid]) => {
      const after = tcpCounters(pid);
      return [k, Object.fromEntries(TCP_COUNTERS.map((c) => [c, (after[c] ?? 0) - (before[k]![c] ?? 0)]).filter(([, v]) => v !== 0))];
    }),
  );
  return { result, tcp };
}

interface CpuShare {
  seconds: number;
  /** The machine's busy share of both CPUs, in %, and the same in CPU ms (both CPUs together). */
  machineBusyPct: number;
  machineBusyMs: number;
  /** This process: the client. */
  client: Cpu;
  /** The server, httpd, with the per-connection children it reaped. */
  server: Cpu;
  /** Each watched process (name → its CPU). */
  procs: Record<string, Cpu>;
}

/** Runs `work` and measures the CPU spent meanwhile by the machine, this process, the server and each of `watch` (name → pid). */
async function withCpu<T>(server: number, watch: Record<string, number>, work: () => Promise<T>): Promise<{ result: T; cpu: CpuShare }> {
  const t0 = performance.now();
  const m0 = machineTicks();
  const c0 = process.cpuUsage();
  const s0 = processCpu(server, true);
  const w0 = Object.fromEntries(Object.entries(watch).map(([k, pid]) => [k, processCpu(pid)]));
  const result = await work();
  const m1 = machineTicks();
  const c1 = process.cpuUsage(c0);
  const cpu: CpuShare = {
    seconds: (performance.now() - t0) / 1000,
    machineBusyPct: Math.round((1000 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total)) / 10,
    machineBusyMs: (m1.busy - m0.busy) * CLOCK_TICK_MS,
    client: { userMs: Math.round(c1.user / 1000), sysMs: Math.round(c1.system / 1000) },
    server: minus(processCpu(server, true), s0),
    procs: Object.fromEntries(Object.entries(watch).map(([k, pid]) => [k, minus(processCpu(pid), w0[k]!)])),
  };
  return { result, cpu };
}

// ---------------------------------------------------------------- paths and their measurement

interface Path {
  id: string;
  system: 'bicycle' | 'swarm';
  label: string;
  host: string;
  port: number;
  /** The container's first process (for the server's CPU). */
  containerPid: number;
}

interface RoundSample {
  path: string;
  round: number;
  rate: {
    requests: number;
    failed: number;
    errors: Record<string, number>;
    seconds: number;
    perSecond: number;
    p50Us: number;
    p99Us: number;
    maxUs: number;
    busyPorts: number;
    /** Requests that took over 200 ms (a SYN sent again waits 1 s). */
    over200ms: number;
    cpu: CpuShare;
    /** TcpExt counters that moved, by namespace: the client's, the container's, L's and R's. */
    tcp: Record<string, Record<string, number>>;
  };
  latency1: { requests: number; failed: number; perSecond: number; p50Us: number; p99Us: number };
  bulk: { bytes: number; seconds: number; mibPerSecond: number; cpu: CpuShare } | { error: string };
  loadAverage: string;
}

async function measureRound(path: Path, round: number, watch: Record<string, number>): Promise<{ sample: RoundSample; latencies8: number[]; latencies1: number[] }> {
  const ports = portsOf(path.id);
  await closedLoop(path.host, path.port, CONNECTIONS, WARMUP_SECONDS, ports);
  const server = serverPid(path.containerPid);
  const counted = await withTcp({ client: undefined, container: path.containerPid, ...watch }, () => withCpu(server, watch, () => closedLoop(path.host, path.port, CONNECTIONS, SECONDS, ports)));
  const rated = counted.result;
  const one = await closedLoop(path.host, path.port, 1, LATENCY_SECONDS, ports);
  let bulk: RoundSample['bulk'];
  try {
    const b = await withCpu(server, watch, () => getTimed(path.host, path.port, '/big', 120_000, ports.take()));
    if (b.result.bytes < BULK_MIB * 2 ** 20) throw new Error(`only ${b.result.bytes} bytes arrived`);
    bulk = { bytes: b.result.bytes, seconds: b.result.us / 1e6, mibPerSecond: b.result.bytes / 2 ** 20 / (b.result.us / 1e6), cpu: b.cpu };
  } catch (error) {
    bulk = { error: (error as Error).message };
  }
  const r = rated.result;
  const sample: RoundSample = {
    path: path.id,
    round,
    rate: {
      requests: r.requests,
      failed: r.failed,
      errors: r.errors,
      seconds: r.seconds,
      perSecond: r.requests / r.seconds,
      p50Us: percentile(r.latenciesUs, 0.5),
      p99Us: percentile(r.latenciesUs, 0.99),
      maxUs: Math.max(...r.latenciesUs),
      busyPorts: r.busyPorts,
      over200ms: r.latenciesUs.filter((us) => us > 200_000).length,
      cpu: rated.cpu,
      tcp: counted.tcp,
    },
    latency1: { requests: one.requests, failed: one.failed, perSecond: one.requests / one.seconds, p50Us: percentile(one.latenciesUs, 0.5), p99Us: percentile(one.latenciesUs, 0.99) },
    bulk,
    loadAverage: loadAverage(),
  };
  const bulkText = 'error' in bulk ? bulk.error : `${fixed(bulk.mibPerSecond, 0)} MiB/s`;
  process.stderr.write(
    `traffic: ${path.id} round ${round}: ${fixed(sample.rate.perSecond, 0)} req/s, p50 ${fixed(sample.rate.p50Us, 0)} µs (8), ` +
      `${fixed(sample.latency1.p50Us, 0)} µs (1), ${r.failed} failed, ${sample.rate.over200ms} over 200 ms ${JSON.stringify(counted.tcp)}, busy ${rated.cpu.machineBusyPct} %, bulk ${bulkText}; load ${sample.loadAverage}\n`,
  );
  return { sample, latencies8: r.latenciesUs, latencies1: one.latenciesUs };
}

interface PathSummary {
  path: string;
  system: string;
  label: string;
  requests: number;
  failed: number;
  perSecond: number;
  p50Us: number;
  p99Us: number;
  p50Us1: number;
  p99Us1: number;
  bulkMiBps: number;
  bulkSamplesMiBps: number[];
  /** During the downloads: the share of one CPU each spent (client, server, watched processes), and the machine's busy share of both. */
  bulkCpuPct: Record<string, number>;
  /** Request rate / the floor's in the same round, per round: the spread of the ratio. */
  roundRatios: number[];
  /** Per round: the request rate (8 connections) and the p50 with 1 connection, µs. */
  roundPerSecond: number[];
  roundP50Us1: number[];
  /** Requests over 200 ms on the 8-connection runs, and the TcpExt counters that moved then, summed by namespace. */
  over200ms: number;
  tcp: Record<string, Record<string, number>>;
  /**
   * CPU µs per request on the 8-connection runs, and the system (kernel) part of it: the client, the server, the
   * machine as a whole and each watched process; the machine and the watched processes net of what they spent idle.
   */
  cpuUsPerRequest: Record<string, { total: number; sys: number }>;
  machineBusyPct: number;
}

function summarize(path: Path, samples: RoundSample[], floorSamples: RoundSample[], idle: CpuShare[], lat8: number[], lat1: number[]): PathSummary {
  const requests = samples.reduce((a, s) => a + s.rate.requests, 0);
  const seconds = samples.reduce((a, s) => a + s.rate.seconds, 0);
  const cpuSeconds = samples.reduce((a, s) => a + s.rate.cpu.seconds, 0);
  const idleSeconds = idle.reduce((a, s) => a + s.seconds, 0);
  const sum = (pick: (c: CpuShare) => Cpu, from: CpuShare[]) => from.reduce((a, c) => ({ userMs: a.userMs + pick(c).userMs, sysMs: a.sysMs + pick(c).sysMs }), { userMs: 0, sysMs: 0 });
  const perRequest = (c: Cpu) => ({ total: Math.round((total(c) * 1000) / Math.max(1, requests)), sys: Math.round((c.sysMs * 1000) / Math.max(1, requests)) });
  const net = (pick: (c: CpuShare) => Cpu) => {
    const busy = sum(pick, samples.map((s) => s.rate.cpu));
    const rest = sum(pick, idle);
    const k = cpuSeconds / Math.max(1e-9, idleSeconds);
    return { userMs: busy.userMs - rest.userMs * k, sysMs: busy.sysMs - rest.sysMs * k };
  };
  const cpu: Record<string, { total: number; sys: number }> = {
    client: perRequest(sum((c) => c.client, samples.map((s) => s.rate.cpu))),
    server: perRequest(sum((c) => c.server, samples.map((s) => s.rate.cpu))),
    // The whole machine beyond its idle: every process and the kernel's work that no process is charged for.
    machine: perRequest(net((c) => ({ userMs: c.machineBusyMs, sysMs: 0 }))),
  };
  for (const name of Object.keys(samples[0]?.rate.cpu.procs ?? {})) cpu[name] = perRequest(net((c) => c.procs[name]!));
  const bulks = samples.map((s) => s.bulk).filter((b): b is Extract<RoundSample['bulk'], { mibPerSecond: number }> => 'mibPerSecond' in b);
  const bulkCpu = bulks.map((b) => b.cpu);
  const bulkSeconds = bulkCpu.reduce((a, c) => a + c.seconds, 0);
  const share = (pick: (c: CpuShare) => Cpu) => Math.round(total(sum(pick, bulkCpu)) / Math.max(1e-9, bulkSeconds) / 10);
  const bulkCpuPct: Record<string, number> = { client: share((c) => c.client), server: share((c) => c.server) };
  for (const name of Object.keys(bulkCpu[0]?.procs ?? {})) bulkCpuPct[name] = share((c) => c.procs[name]!);
  bulkCpuPct.machine = Math.round(median(bulkCpu.map((c) => c.machineBusyPct)));
  return {
    path: path.id,
    system: path.system,
    label: path.label,
    requests,
    failed: samples.reduce((a, s) => a + s.rate.failed, 0),
    perSecond: requests / seconds,
    p50Us: percentile(lat8, 0.5),
    p99Us: percentile(lat8, 0.99),
    p50Us1: percentile(lat1, 0.5),
    p99Us1: percentile(lat1, 0.99),
    bulkMiBps: median(bulks.map((b) => b.mibPerSecond)),
    bulkSamplesMiBps: bulks.map((b) => Math.round(b.mibPerSecond)),
    bulkCpuPct,
    roundPerSecond: samples.map((s) => Math.round(s.rate.perSecond)),
    roundP50Us1: samples.map((s) => Math.round(s.latency1.p50Us)),
    over200ms: samples.reduce((a, s) => a + s.rate.over200ms, 0),
    tcp: samples.reduce<Record<string, Record<string, number>>>((acc, s) => {
      for (const [ns, counters] of Object.entries(s.rate.tcp)) for (const [c, v] of Object.entries(counters)) (acc[ns] ??= {})[c] = (acc[ns]![c] ?? 0) + v;
      return acc;
    }, {}),
    roundRatios: samples.map((s) => Math.round((100 * s.rate.perSecond) / floorSamples.find((f) => f.round === s.round)!.rate.perSecond) / 100),
    cpuUsPerRequest: cpu,
    machineBusyPct: median(samples.map((s) => s.rate.cpu.machineBusyPct)),
  };
}

// ---------------------------------------------------------------- Bicycle

interface BicycleSide {
  lab: Lab;
  paths: Path[];
  local: number;
  remote: number;
  /** The two daemons whose CPU every run records: L's (its kernel carries the local path) and R's (its hop carries the remote path). */
  watch: Record<string, number>;
}

async function bicycleSetup(): Promise<BicycleSide> {
  const lab = await startBicycleLab('bicycle-traffic-');
  const res = await api(lab, 'POST', '/services?wait=true&timeout=90', { name: SERVICE, image: TEST_IMAGE, replicas: 1, command: BULK_COMMAND, ports: [{ published: PORT, target: 80 }] });
  if (res.status !== 201) throw new Error(`POST /services answered ${res.status}: ${JSON.stringify(res.body)}`);
  const byEngine = await containersByEngine(lab.hosts.map((h) => h.docker), BICYCLE_LABEL);
  const local = byEngine.findIndex((l) => l.length === 1) + 1;
  if (local === 0) throw new Error(`no host runs the replica: ${JSON.stringify(byEngine.map((l) => l.length))}`);
  const remote = local === 1 ? 2 : 1;
  const hostL = lab.host(local);
  const hostR = lab.host(remote);
  const info = await hostL.docker.getContainer(byEngine[local - 1]![0]!.Id).inspect();
  const containerIp = Object.values(info.NetworkSettings.Networks)[0]?.IPAddress ?? '';

  // The floor: the container's address, through a route via host L for the run (the lab adds none).
  const [a, b] = lab.subnet.split('.');
  const bridge = `${a}.${b}.${100 + local}.0/24`;
  if (!containerIp.startsWith(`${a}.${b}.${100 + local}.`)) throw new Error(`the replica's address ${containerIp} is not on ${hostL.name}'s bridge ${bridge}`);
  await exec('ip', ['route', 'add', bridge, 'via', hostL.ip]);
  onCleanup(() => exec('ip', ['route', 'del', bridge, 'via', hostL.ip]).then(() => undefined));

  for (const target of [`${containerIp}:80`, `${hostL.ip}:${PORT}`, `${hostR.ip}:${PORT}`]) {
    await waitFor(`${target} to serve the 200 MiB file`, async () => (await getTimed(target.split(':')[0]!, Number(target.split(':')[1]), '/big', 30_000)).bytes >= BULK_MIB * 2 ** 20, 60_000, 250);
  }
  const pid = (i: number) => Number(readFileSync(join(lab.host(i).dir, 'bicycled.pid'), 'utf8').trim());
  const containerPid = info.State.Pid;
  return {
    lab,
    local,
    remote,
    watch: { 'bicycled L': pid(local), 'bicycled R': pid(remote) },
    paths: [
      { id: 'floor', system: 'bicycle', label: `floor: the container, ${containerIp}:80`, host: containerIp, port: 80, containerPid },
      { id: 'bicycle-local', system: 'bicycle', label: `bicycle local: ${hostL.name} ${hostL.ip}:${PORT}`, host: hostL.ip, port: PORT, containerPid },
      { id: 'bicycle-remote', system: 'bicycle', label: `bicycle remote: ${hostR.name} ${hostR.ip}:${PORT}`, host: hostR.ip, port: PORT, containerPid },
    ],
  };
}

interface UpdateResult extends LoadWindow {
  system: string;
  publishing: string;
  replicas: number;
  parallelism: number;
  order: string;
}

async function bicycleUpdate(side: BicycleSide): Promise<UpdateResult> {
  const { lab } = side;
  const gone = await api(lab, 'DELETE', `/services/${SERVICE}?wait=true&timeout=60`);
  if (gone.status >= 300) throw new Error(`DELETE /services/${SERVICE} answered ${gone.status}: ${JSON.stringify(gone.body)}`);
  const made = await api(lab, 'POST', '/services?wait=true&timeout=90', { name: SERVICE, image: TEST_IMAGE, replicas: UPDATE_REPLICAS, command: HTTPD, ports: [{ published: PORT, target: 80 }] });
  if (made.status !== 201) throw new Error(`POST /services answered ${made.status}: ${JSON.stringify(made.body)}`);
  const engines = lab.hosts.map((h) => h.docker);
  await waitFor(`${UPDATE_REPLICAS} replicas spread 2/2/2`, async () => (await containersByEngine(engines, BICYCLE_LABEL)).every((l) => l.length === UPDATE_REPLICAS / 3), 30_000, 200);
  const targets = lab.hosts.map((h) => `${h.ip}:${PORT}`);
  for (const t of targets) await waitFor(`${t} to answer`, () => getOnce(t).then(() => true), 20_000, 100);
  await sleep(1000);
  const measured = await underLoad(targets, CONNECTIONS, engines, BICYCLE_LABEL, async () => {
    const t = performance.now();
    const res = await api(lab, 'PATCH', `/services/${SERVICE}?wait=true&timeout=120`, { env: { ROUND: '2' } }, 130_000);
    if (res.status !== 200 || res.body.state !== 'RUNNING') throw new Error(`PATCH /services/${SERVICE} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return (performance.now() - t) / 1000;
  });
  return { system: 'bicycle', publishing: 'ingress', replicas: UPDATE_REPLICAS, parallelism: PARALLELISM, order: 'new replica with the old one deregistered first (its container stopped traffic.deregisterDelayMs later)', ...measured };
}

// ---------------------------------------------------------------- Swarm

interface SwarmSide extends SwarmLab {
  mesh: boolean;
  /** Why the routing mesh was not measured, with what showed it. */
  meshProblem: string | null;
  paths: Path[];
  local: number;
}

async function swarmTask(engines: Docker[]): Promise<{ engine: number; container: Docker.ContainerInfo }> {
  return waitFor('the Swarm task running', async () => {
    const byEngine = await containersByEngine(engines, SWARM_LABEL);
    const i = byEngine.findIndex((l) => l.length > 0);
    return i >= 0 ? { engine: i + 1, container: byEngine[i]![0]! } : undefined;
  }, 60_000, 200);
}

/** Waits until the task's httpd serves the big file inside its container (so the 200 MiB are written). */
async function swarmServing(socket: string, containerId: string): Promise<void> {
  await waitFor('the Swarm task to serve /big', async () => {
    const out = await swarmDocker(socket, ['exec', containerId, 'sh', '-c', 'wget -q -O - http://127.0.0.1/big | wc -c'], 30_000);
    return Number(out) >= BULK_MIB * 2 ** 20;
  }, 60_000, 500);
}

const swarmRemoveService = (side: SwarmLab) => removeSwarmService(side, SERVICE);

async function swarmSetup(): Promise<SwarmSide> {
  const side = await startSwarmLab();
  const { sockets, engines, ips } = side;
  const create = (publish: string) =>
    swarmDocker(sockets[0]!, ['service', 'create', '--detach', '--name', SERVICE, '--init', '--publish', publish, '--replicas', '1', '--stop-grace-period', '2s', TEST_IMAGE, ...BULK_COMMAND]);

  await create(`published=${PORT},target=80`);
  let task = await swarmTask(engines);
  await swarmServing(sockets[task.engine - 1]!, task.container.Id);
  // The routing mesh: does every node answer on the published port within 10 s of the task serving?
  const problem = await meshProblem(side, PORT);
  const mesh = problem === null;
  if (!mesh) {
    process.stderr.write(`traffic: Swarm's routing mesh does not serve here (${problem}); host-mode publishing instead\n`);
    await swarmRemoveService(side);
    await create(`mode=host,published=${PORT},target=80`);
    task = await swarmTask(engines);
    await swarmServing(sockets[task.engine - 1]!, task.container.Id);
  }
  const local = task.engine;
  const remote = local === 1 ? 2 : 1;
  await waitFor(`${ips[local - 1]}:${PORT} to answer`, () => getOnce(`${ips[local - 1]}:${PORT}`).then(() => true), 20_000, 200);
  const info = (await engines[local - 1]!.getContainer(task.container.Id).inspect()) as { State: { Pid: number } };
  const paths: Path[] = [
    { id: 'swarm-local', system: 'swarm', label: `swarm local${mesh ? '' : ' (host-mode port)'}: engine ${local} ${ips[local - 1]}:${PORT}`, host: ips[local - 1]!, port: PORT, containerPid: info.State.Pid },
  ];
  if (mesh) paths.push({ id: 'swarm-remote', system: 'swarm', label: `swarm remote: engine ${remote} ${ips[remote - 1]}:${PORT}`, host: ips[remote - 1]!, port: PORT, containerPid: info.State.Pid });
  return { ...side, mesh, meshProblem: problem, paths, local };
}

async function swarmUpdate(side: SwarmSide): Promise<UpdateResult> {
  await swarmRemoveService(side);
  // The most favourable settings Swarm has for this: start-first (the new task runs before the old one stops),
  // no delay between batches. Host-mode ports allow one replica per node and only stop-first
  // (start-first leaves the new task pending, "no suitable node": the old tasks hold the port on every node).
  const replicas = side.mesh ? UPDATE_REPLICAS : 3;
  const order = side.mesh ? 'start-first' : 'stop-first';
  const publish = side.mesh ? `published=${PORT},target=80` : `mode=host,published=${PORT},target=80`;
  await swarmDocker(side.sockets[0]!, [
    'service', 'create', '--detach', '--name', SERVICE, '--init', '--publish', publish, '--replicas', String(replicas),
    '--stop-grace-period', '2s', '--update-parallelism', String(PARALLELISM), '--update-order', order, '--update-delay', '0s',
    TEST_IMAGE, ...HTTPD,
  ]);
  await waitFor(`${replicas} Swarm tasks running`, async () => (await containersByEngine(side.engines, SWARM_LABEL)).flat().length === replicas, 60_000, 200);
  const targets = side.ips.map((ip) => `${ip}:${PORT}`);
  for (const t of targets) await waitFor(`${t} to answer`, () => getOnce(t).then(() => true), 20_000, 100);
  await sleep(1000);
  const service = side.engines[0]!.getService(SERVICE);
  const measured = await underLoad(targets, CONNECTIONS, side.engines, SWARM_LABEL, async () => {
    const t = performance.now();
    await swarmDocker(side.sockets[0]!, ['service', 'update', '--detach', '--env-add', 'ROUND=2', SERVICE]);
    const state = await waitFor('the Swarm update to finish', async () => {
      const s = ((await service.inspect()) as { UpdateStatus?: { State?: string } }).UpdateStatus?.State;
      return s && s !== 'updating' ? s : undefined;
    }, 120_000, 100);
    if (state !== 'completed') throw new Error(`the Swarm update ended ${state}`);
    return (performance.now() - t) / 1000;
  });
  return { system: 'swarm', publishing: side.mesh ? 'ingress (routing mesh)' : 'host mode (no routing mesh here)', replicas, parallelism: PARALLELISM, order, ...measured };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadAverage();
  await requireEngine();
  const bicycle = await bicycleSetup();
  const swarm = process.env.BENCH_SWARM === '0' ? null : await swarmSetup();
  const paths = [...bicycle.paths, ...(swarm?.paths ?? [])];

  const floor = bicycle.paths[0]!;
  const floorCheck = await autocannon({ url: `http://${floor.host}:${floor.port}/`, connections: CONNECTIONS, duration: SECONDS });
  const autocannonFloor = { perSecond: floorCheck.requests.total / floorCheck.duration, errors: floorCheck.errors, non2xx: floorCheck.non2xx };

  const samples: RoundSample[] = [];
  const idle: CpuShare[] = [];
  const lat8 = new Map<string, number[]>(paths.map((p) => [p.id, []]));
  const lat1 = new Map<string, number[]>(paths.map((p) => [p.id, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? paths : [...paths].reverse();
    // What the machine and the daemons spend with no request: subtracted from the runs' CPU.
    idle.push((await withCpu(serverPid(floor.containerPid), bicycle.watch, () => sleep(IDLE_SECONDS * 1000))).cpu);
    process.stderr.write(`traffic: idle round ${round}: busy ${idle[idle.length - 1]!.machineBusyPct} %; load ${loadAverage()}\n`);
    for (const path of order) {
      const m = await measureRound(path, round, bicycle.watch);
      samples.push(m.sample);
      lat8.get(path.id)!.push(...m.latencies8);
      lat1.get(path.id)!.push(...m.latencies1);
    }
  }
  const summary = paths.map((p) => summarize(p, samples.filter((s) => s.path === p.id), samples.filter((s) => s.path === 'floor'), idle, lat8.get(p.id)!, lat1.get(p.id)!));

  const updates: UpdateResult[] = [];
  updates.push(await bicycleUpdate(bicycle));
  process.stderr.write(`traffic: bicycle update: ${updates[0]!.ok} ok, ${updates[0]!.failed} failed, ${fixed(updates[0]!.updateSeconds, 1)} s\n`);
  if (swarm) {
    updates.push(await swarmUpdate(swarm));
    process.stderr.write(`traffic: swarm update: ${updates[1]!.ok} ok, ${updates[1]!.failed} failed, ${fixed(updates[1]!.updateSeconds, 1)} s\n`);
  }

  const byId = new Map(summary.map((s) => [s.path, s]));
  const base = byId.get('floor')!;
  const swarmOf = (s: PathSummary) => byId.get(s.path.replace('bicycle-', 'swarm-'));
  const ratio = (a: number, b: number | undefined) => (b === undefined || !Number.isFinite(b) ? '-' : fixed(a / b, 2));
  console.log(`\nPublished port, 1 replica (busybox httpd), a new connection per request; ${ROUNDS} rounds of ${SECONDS} s (8 connections) and ${LATENCY_SECONDS} s (1 connection)\n`);
  console.log(table([
    ['path', 'req/s', '×floor', '(by round)', '×swarm', 'p50 µs', 'p99 µs', 'p50 µs (1 conn)', 'Δp50 vs floor', 'p99 µs (1 conn)', 'bulk MiB/s', '×floor', 'failed', '>200 ms', 'CPU busy %'],
    ...summary.map((s) => [
      s.label, fixed(s.perSecond, 0), ratio(s.perSecond, base.perSecond), s.path === 'floor' ? '' : `${fixed(Math.min(...s.roundRatios), 2)}–${fixed(Math.max(...s.roundRatios), 2)}`, s.system === 'bicycle' && s.path !== 'floor' ? ratio(s.perSecond, swarmOf(s)?.perSecond) : '',
      fixed(s.p50Us, 0), fixed(s.p99Us, 0), fixed(s.p50Us1, 0), s.path === 'floor' ? '' : fixed(s.p50Us1 - base.p50Us1, 0), fixed(s.p99Us1, 0),
      fixed(s.bulkMiBps, 0), ratio(s.bulkMiBps, base.bulkMiBps), s.failed, s.over200ms, fixed(s.machineBusyPct, 0),
    ]),
  ]));
  console.log(`\nautocannon on the floor (its request count; its latency is not usable against a server that closes): ${fixed(autocannonFloor.perSecond, 0)} req/s`);
  if (swarm && !swarm.mesh) console.log(`Swarm's routing mesh not measured: ${swarm.meshProblem}`);
  const idleBusy = median(idle.map((c) => c.machineBusyPct));
  console.log(`\nCPU µs per request at 8 connections, total (kernel part): the client (this process), httpd, the daemons of L and R and the machine net of idle (idle: ${fixed(idleBusy, 0)} % busy)\n`);
  const cpuNames = [...new Set(summary.flatMap((s) => Object.keys(s.cpuUsPerRequest)))];
  const cell = (c: { total: number; sys: number } | undefined, kernel: boolean) => (c === undefined ? '' : kernel ? `${c.total} (${c.sys})` : String(c.total));
  console.log(table([['path', ...cpuNames], ...summary.map((s) => [s.path, ...cpuNames.map((n) => cell(s.cpuUsPerRequest[n], n !== 'machine'))])]));
  console.log('\nDuring the 200 MiB downloads, % of one CPU (machine: % of both)\n');
  const bulkNames = Object.keys(summary[0]?.bulkCpuPct ?? {});
  console.log(table([['path', ...bulkNames], ...summary.map((s) => [s.path, ...bulkNames.map((n) => String(s.bulkCpuPct[n] ?? ''))])]));
  console.log(`\nRolling update under a loop of ${CONNECTIONS} connections through every host's port ${PORT}\n`);
  console.log(table([
    ['system', 'publishing', 'replicas', 'parallelism', 'order', 'requests ok', 'failed', 'update s', 'req/s before', 'during', 'p99 ms before', 'during', 'CPU busy % before', 'during'],
    ...updates.map((u) => [
      u.system, u.publishing, u.replicas, u.parallelism, u.system === 'bicycle' ? 'deregister, then stop' : u.order, u.ok, u.failed, fixed(u.updateSeconds, 1),
      u.beforeUpdate.requestsPerSecond, u.duringUpdate.requestsPerSecond, fixed(u.beforeUpdate.p99Ms, 0), fixed(u.duringUpdate.p99Ms, 0),
      fixed(u.beforeUpdate.machineBusyPct, 0), fixed(u.duringUpdate.machineBusyPct, 0),
    ]),
  ]));
  for (const u of updates) if (u.failed > 0) console.log(`${u.system}: failures ${JSON.stringify(u.errors)} by target ${JSON.stringify(u.failedByTarget)}`);

  const file = writeResults('traffic', {
    durationS: Math.round((performance.now() - started) / 1000),
    loadAverageAtStart: loadAtStart,
    settings: { roundSeconds: SECONDS, rounds: ROUNDS, latencySeconds: LATENCY_SECONDS, warmupSeconds: WARMUP_SECONDS, idleSeconds: IDLE_SECONDS, connections: CONNECTIONS, bulkMiB: BULK_MIB, updateReplicas: UPDATE_REPLICAS, parallelism: PARALLELISM },
    bicycle: { subnet: bicycle.lab.subnet, localHost: bicycle.local, remoteHost: bicycle.remote },
    swarm: swarm ? { mesh: swarm.mesh, meshProblem: swarm.meshProblem, localEngine: swarm.local } : { error: 'left out (BENCH_SWARM=0)' },
    autocannonFloor,
    summary,
    updates,
    idle,
    samples,
  });
  console.log(`wrote ${file}`);
}

runBenchmark('bench:traffic', main);
