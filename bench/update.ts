/**
 * A health-gated rolling update of 6 replicas, good and bad, Bicycle beside
 * Docker Swarm with the same settings, in one run.
 *
 * Both: `bicycle/busybox:test` running httpd behind a published port 8080,
 * healthy while /tmp/healthy exists (check `test -f /tmp/healthy` every
 * 500 ms, timeout 1 s, 2 retries); update and rollback alike: parallelism 2,
 * start-first, monitor 1 s, delay 0 (failure action of the update:
 * rollback; of the rollback: pause). The rollback settings are given
 * explicitly because the two systems' defaults differ (Swarm's parallelism
 * is 1, Bicycle's the cluster's 2). Version 1 runs `sh -c "touch
 * /tmp/healthy && exec httpd …"` with RELEASE=1; the good update sets
 * RELEASE=2 (every container replaced, each healthy); the bad one sets the
 * command to `sh -c "exec httpd …"`, whose check never passes. Each update
 * starts from a service created afresh, 6 healthy.
 *
 * Bicycle: a 3-host lab (scripts/lab/), `PATCH /services/web?wait=true`
 * until it answers RUNNING or ROLLED_BACK. Swarm: bench/swarm-cluster.sh (3
 * managers), `docker service update --detach …`, then the service's
 * UpdateStatus.State polled every 100 ms until completed or
 * rollback_completed (or paused). Meanwhile each system's own view is
 * sampled (replicas wanted running, running and healthy; Bicycle's
 * service view, Swarm's tasks, which run only once healthy) and so are the
 * engines' (running containers whose health is healthy).
 *
 * Under load: a loop of 8 connections through all three hosts' port
 * (scripts/lab/http-load.ts, bench/load-window.ts). Swarm's routing mesh
 * needs IPVS in the kernel; where it does not serve, Swarm's same-settings
 * update is timed without load (and Bicycle's too, beside it), and failed
 * requests are measured on what can serve: host-mode ports, 3 replicas (one
 * fits per node), stop-first (start-first cannot place the new task while
 * the old one holds the node's port).
 *
 * Prints the table (bench/update-report.ts) and writes bench/results/update.json.
 *   node dist/bench/update.js      (root: namespaces, engines)
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import type { Lab } from '../scripts/lab/lab';
import { getOnce } from '../scripts/lab/http-load';
import { waitFor } from '../scripts/lab/wait-for';
import { labApi, startBicycleLab } from './bicycle-lab';
import { containersByEngine, fixed, loadAverage, requireEngine, runBenchmark, sleep, TEST_IMAGE, writeResults } from './common';
import { underLoad, type LoadWindow } from './load-window';
import { printUpdateReport, type CaseResult, type Kind, type Observation, type Setup } from './update-report';
import { meshProblem, removeSwarmService, startSwarmLab, swarmDocker, type SwarmLab } from './swarm-lab';

const RUNS = Number(process.env.BENCH_UPDATE_RUNS ?? 2);
const REPLICAS = 6;
const PARALLELISM = 2;
const CONNECTIONS = 8;
const PORT = 8080;
const SERVICE = 'web';
const SAMPLE_MS = 100;
const UPDATE_TIMEOUT_S = 180;
const HTTPD = 'httpd -f -p 80 -h /www';
const GOOD = ['sh', '-c', `touch /tmp/healthy && exec ${HTTPD}`];
const BAD = ['sh', '-c', `exec ${HTTPD}`];
const CHECK = { test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: '500ms', timeout: '1s', retries: 2 };
const ROLLOUT = { parallelism: PARALLELISM, order: 'start-first', monitor: '1s', delay: '0s' } as const;

/** The states in which each system says it is rolling back. */
const ROLLING_BACK: ReadonlySet<string> = new Set(['ROLLING_BACK', 'rollback_started']);
/** What each kind of update should end in, in each system's words. */
const EXPECTED = { bicycle: { good: 'RUNNING', bad: 'ROLLED_BACK' }, swarm: { good: 'completed', bad: 'rollback_completed' } } as const;

/** What one system offers the measurement: the narrow part of it that differs between Bicycle and Swarm. */
interface System {
  engines: Docker[];
  label: string;
  targets: string[];
  /** Creates version 1 afresh (removing any earlier service) and returns once `setup.replicas` are healthy and, when it serves, every target answers. */
  create(setup: Setup): Promise<void>;
  /** Starts the update and resolves once the system says it is over: how it ended, and what it said. */
  update(kind: Kind): Promise<{ ended: string; detail: unknown }>;
  /** The system's own state and its count of replicas wanted running, running and healthy. */
  observe(): Promise<{ state: string; healthy: number }>;
}

// ---------------------------------------------------------------- Bicycle

function bicycleSystem(lab: Lab): System {
  const api = (method: string, path: string, body?: unknown, timeoutMs?: number) => labApi(lab, method, path, body, timeoutMs);
  const healthyOf = (view: any): number => view.tasks.filter((t: any) => t.desiredState === 'RUNNING' && t.state === 'RUNNING' && t.health === 'healthy').length;
  const system: System = {
    engines: lab.hosts.map((h) => h.docker),
    label: `io.bicycle.service=${SERVICE}`,
    targets: lab.hosts.map((h) => `${h.ip}:${PORT}`),
    async create(setup) {
      const gone = await api('DELETE', `/services/${SERVICE}?wait=true&timeout=60`);
      if (gone.status >= 300 && gone.status !== 404) throw new Error(`DELETE /services/${SERVICE} answered ${gone.status}: ${JSON.stringify(gone.body)}`);
      const made = await api('POST', '/services?wait=true&timeout=90', {
        name: SERVICE, image: TEST_IMAGE, replicas: setup.replicas, command: GOOD, env: { RELEASE: '1' }, healthcheck: CHECK,
        ports: [{ published: PORT, target: 80 }], update: { ...ROLLOUT, failureAction: 'rollback' }, rollback: ROLLOUT,
      });
      if (made.status !== 201) throw new Error(`POST /services answered ${made.status}: ${JSON.stringify(made.body)}`);
      await waitFor(`${setup.replicas} healthy replicas`, async () => (await system.observe()).healthy === setup.replicas, 60_000, 200);
      await waitFor('2 replicas on each host', async () => (await containersByEngine(system.engines, system.label)).every((l) => l.length === setup.replicas / 3), 30_000, 200);
      for (const t of system.targets) await waitFor(`${t} to answer`, () => getOnce(t).then(() => true), 20_000, 100);
    },
    async update(kind) {
      const change = kind === 'good' ? { env: { RELEASE: '2' } } : { command: BAD };
      const res = await api('PATCH', `/services/${SERVICE}?wait=true&timeout=${UPDATE_TIMEOUT_S}`, change, (UPDATE_TIMEOUT_S + 10) * 1000);
      if (res.status !== 200) throw new Error(`PATCH /services/${SERVICE} answered ${res.status}: ${JSON.stringify(res.body)}`);
      return { ended: res.body.state, detail: res.body };
    },
    async observe() {
      const view = (await api('GET', `/services/${SERVICE}`)).body;
      return { state: view.state, healthy: healthyOf(view) };
    },
  };
  return system;
}

// ---------------------------------------------------------------- Swarm

interface SwarmTask {
  DesiredState: string;
  Status: { State: string };
}

function swarmSystem(lab: SwarmLab): System {
  const manager = lab.sockets[0]!;
  const service = lab.engines[0]!.getService(SERVICE);
  const rollout = (prefix: string, order: string) => [`--${prefix}-parallelism`, String(PARALLELISM), `--${prefix}-order`, order, `--${prefix}-monitor`, ROLLOUT.monitor, `--${prefix}-delay`, ROLLOUT.delay];
  const system: System = {
    engines: lab.engines,
    label: `com.docker.swarm.service.name=${SERVICE}`,
    targets: lab.ips.map((ip) => `${ip}:${PORT}`),
    async create(setup) {
      const exists = (await swarmDocker(manager, ['service', 'ls', '-q', '--filter', `name=${SERVICE}`])) !== '';
      if (exists) await removeSwarmService(lab, SERVICE);
      const publish = setup.publishing === 'host mode' ? `mode=host,published=${PORT},target=80` : `published=${PORT},target=80`;
      await swarmDocker(manager, [
        'service', 'create', '--detach', '--name', SERVICE, '--init', '--replicas', String(setup.replicas), '--publish', publish,
        '--stop-grace-period', '2s', '--env', 'RELEASE=1',
        '--health-cmd', CHECK.test[1]!, '--health-interval', CHECK.interval, '--health-timeout', CHECK.timeout, '--health-retries', String(CHECK.retries),
        ...rollout('update', setup.order), '--update-failure-action', 'rollback', ...rollout('rollback', setup.order),
        TEST_IMAGE, ...GOOD,
      ]);
      await waitFor(`${setup.replicas} Swarm tasks running (healthy)`, async () => (await system.observe()).healthy === setup.replicas, 90_000, 200);
      if (setup.underLoad) for (const t of system.targets) await waitFor(`${t} to answer`, () => getOnce(t).then(() => true), 20_000, 100);
    },
    async update(kind) {
      const change = kind === 'good' ? ['--env-add', 'RELEASE=2'] : ['--args', BAD.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')];
      await swarmDocker(manager, ['service', 'update', '--detach', ...change, SERVICE]);
      const settled = new Set(['completed', 'paused', 'rollback_completed', 'rollback_paused']);
      const status = await waitFor('the Swarm update to end', async () => {
        const s = ((await service.inspect()) as { UpdateStatus?: { State?: string; Message?: string } }).UpdateStatus;
        return s?.State && settled.has(s.State) ? s : undefined;
      }, UPDATE_TIMEOUT_S * 1000, SAMPLE_MS);
      return { ended: status.State!, detail: status };
    },
    async observe() {
      const [inspected, tasks] = await Promise.all([
        service.inspect() as Promise<{ UpdateStatus?: { State?: string } }>,
        lab.engines[0]!.listTasks({ filters: { service: [SERVICE] } }) as Promise<SwarmTask[]>,
      ]);
      return { state: inspected.UpdateStatus?.State ?? 'created', healthy: tasks.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running').length };
    },
  };
  return system;
}

// ---------------------------------------------------------------- one update, measured

/** The engines' running containers of the service, counted by the health their status line shows ("Up 3 seconds (health: starting)"). */
async function containerHealth(system: System): Promise<Pick<Observation, 'healthyContainers' | 'startingContainers' | 'unhealthyContainers'>> {
  const statuses = (await containersByEngine(system.engines, system.label)).flat().map((c) => c.Status);
  const count = (re: RegExp) => statuses.filter((st) => re.test(st)).length;
  return { healthyContainers: count(/\(healthy\)/), startingContainers: count(/\(health: starting\)/), unhealthyContainers: count(/\(unhealthy\)/) };
}

/** Samples the system's view and the engines' healthy containers until stopped; records each change. */
function startSampler(system: System, t0: number): { stop(): Promise<Observation[]> } {
  const seen: Observation[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const [own, engines] = await Promise.all([
        system.observe().catch((e: Error) => ({ state: `unanswered: ${e.message}`, healthy: NaN })),
        containerHealth(system).catch(() => ({ healthyContainers: NaN, startingContainers: NaN, unhealthyContainers: NaN })),
      ]);
      const now: Observation = { atS: Math.round(performance.now() - t0) / 1000, ...own, ...engines };
      const last = seen[seen.length - 1];
      if (!last || (['state', 'healthy', 'healthyContainers', 'startingContainers', 'unhealthyContainers'] as const).some((k) => last[k] !== now[k])) seen.push(now);
      await sleep(SAMPLE_MS);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

async function measure(system: System, setup: Setup, kind: Kind, run: number): Promise<CaseResult> {
  await system.create(setup);
  await sleep(1000);
  let outcome: { ended: string; detail: unknown } = { ended: '', detail: null };
  let timeline: Observation[] = [];
  const change = async () => {
    const t0 = performance.now();
    const sampler = startSampler(system, t0);
    try {
      outcome = await system.update(kind);
    } finally {
      timeline = await sampler.stop();
    }
    return (performance.now() - t0) / 1000;
  };
  let seconds: number;
  let load: LoadWindow | null = null;
  if (setup.underLoad) {
    load = await underLoad(system.targets, CONNECTIONS, system.engines, system.label, change);
    seconds = load.updateSeconds;
  } else {
    seconds = await change();
  }
  const asExpected = outcome.ended === EXPECTED[setup.system][kind];
  const healthy = timeline.map((o) => o.healthy).filter(Number.isFinite);
  const containers = timeline.map((o) => o.healthyContainers).filter(Number.isFinite);
  const result: CaseResult = {
    setup: setup.id, kind, run, seconds, ended: outcome.ended, asExpected, detail: outcome.detail,
    fewestHealthy: Math.min(...healthy), fewestHealthyContainers: Math.min(...containers), timeline,
    rollbackFromS: timeline.find((o) => ROLLING_BACK.has(o.state))?.atS ?? null,
    firstUnhealthyS: timeline.find((o) => o.unhealthyContainers > 0)?.atS ?? null, load, loadAverage: loadAverage(),
  };
  const loadText = load ? `, ${load.okDuring} ok, ${load.failedDuring} failed during it (${load.failed} in the window)` : ', no load';
  process.stderr.write(`update: ${setup.id} ${kind} run ${run}: ${fixed(seconds, 2)} s, ended ${outcome.ended}${asExpected ? '' : ' (NOT AS EXPECTED)'}, unhealthy from ${result.firstUnhealthyS ?? '-'} s, rollback from ${result.rollbackFromS ?? '-'} s, fewest healthy ${result.fewestHealthy}/${result.fewestHealthyContainers}${loadText}; load ${result.loadAverage}\n`);
  if (!asExpected) process.stderr.write(`update: ${setup.id} ${kind}: ${JSON.stringify(outcome.detail)}\n`);
  return result;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadAverage();
  await requireEngine();
  const lab = await startBicycleLab('bicycle-update-');
  const bicycle = bicycleSystem(lab);
  const swarmLab = process.env.BENCH_SWARM === '0' ? null : await startSwarmLab();
  const swarm = swarmLab ? swarmSystem(swarmLab) : null;

  const same = { replicas: REPLICAS, order: 'start-first' as const };
  const setups: Array<{ setup: Setup; system: System }> = [{ setup: { id: 'bicycle', system: 'bicycle', publishing: 'ingress', underLoad: true, ...same }, system: bicycle }];
  let mesh: string | null = null;
  if (swarm && swarmLab) {
    // Does the routing mesh serve? A service of the same settings, its 6 tasks healthy, every node asked for 10 s.
    await swarm.create({ id: 'probe', system: 'swarm', publishing: 'ingress', underLoad: false, ...same });
    mesh = await meshProblem(swarmLab, PORT);
    if (mesh === null) {
      setups.push({ setup: { id: 'swarm', system: 'swarm', publishing: 'ingress (routing mesh)', underLoad: true, ...same }, system: swarm });
    } else {
      process.stderr.write(`update: Swarm's routing mesh does not serve here (${mesh}); its same-settings update is timed without load, beside Bicycle's, and failed requests are measured with host-mode ports (3 replicas, stop-first)\n`);
      setups.push(
        { setup: { id: 'bicycle-no-load', system: 'bicycle', publishing: 'ingress', underLoad: false, ...same }, system: bicycle },
        { setup: { id: 'swarm-no-load', system: 'swarm', publishing: 'ingress (does not serve here)', underLoad: false, ...same }, system: swarm },
        { setup: { id: 'swarm-host-mode', system: 'swarm', publishing: 'host mode', underLoad: true, replicas: 3, order: 'stop-first' }, system: swarm },
      );
    }
  }

  const results: CaseResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    // Each run takes the set-ups in the opposite order of the one before, so that a slow spell does not fall on one system.
    const order = run % 2 === 1 ? setups : [...setups].reverse();
    for (const { setup, system } of order) for (const kind of ['good', 'bad'] as const) results.push(await measure(system, setup, kind, run));
  }

  const summary = printUpdateReport(setups.map((s) => s.setup), results, { runs: RUNS, swarm: swarm !== null, meshProblem: mesh });
  // What Bicycle's daemons said, kept when a Bicycle update lost requests or ended otherwise than expected (the lab's files go with it).
  const troubled = results.some((r) => r.setup.startsWith('bicycle') && (!r.asExpected || (r.load?.failed ?? 0) > 0));
  if (troubled) {
    const dir = mkdtempSync(join(tmpdir(), 'bicycle-update-logs-'));
    for (const h of lab.hosts) copyFileSync(join(h.dir, 'bicycled.out'), join(dir, `${h.name}.bicycled.out`));
    console.log(`a Bicycle update lost requests or ended otherwise than expected: its daemons' logs are in ${dir}`);
  }

  const file = writeResults('update', {
    durationS: Math.round((performance.now() - started) / 1000),
    loadAverageAtStart: loadAtStart,
    settings: { runs: RUNS, replicas: REPLICAS, parallelism: PARALLELISM, connections: CONNECTIONS, healthcheck: CHECK, rollout: ROLLOUT, sampleMs: SAMPLE_MS, good: { env: { RELEASE: '2' } }, bad: { command: BAD }, version1: { command: GOOD, env: { RELEASE: '1' } } },
    swarm: swarm ? { mesh: mesh === null, meshProblem: mesh } : { error: 'left out (BENCH_SWARM=0)' },
    setups: setups.map((s) => s.setup),
    summary,
    results,
  });
  console.log(`wrote ${file}`);
}

runBenchmark('bench:update', main);
