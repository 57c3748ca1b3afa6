import { performance } from 'node:perf_hooks';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../database/open-database';
import { prepared } from '../database/statements';
import { getLocal, listServices } from '../database/queries';
import { taskCountsByService } from '../database/task-summary';
import { TASK_STATES } from '../database/task-state';
import { SERVICE_STATES } from '../database/service-state';
import { NODE_AVAILABILITIES, NODE_ROLES, NODE_STATUSES } from '../database/node-state';
import { wantedByService } from './present-placement';

/**
 * Every metric Bicycle exposes, defined here and nowhere else (docs/metrics.md
 * lists them). The cluster's gauges are computed when scraped, from the
 * SQLite rows this thread can read, so nothing runs between scrapes; the HTTP
 * metrics are counted by one koa middleware. Names follow Prometheus
 * conventions: the `bicycle_` prefix, base units, `_total` counters, and no
 * label whose values grow without bound (no task ids, no raw URLs).
 */

const PREFIX = 'bicycle_';

/** The route label of a request no route matched: never its raw path, which a client chooses. */
export const UNMATCHED_ROUTE = '(unmatched)';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Seconds; long ones for `?wait=true` answers and followed log streams. */
const HTTP_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The rows one scrape reads, in one transaction, so that the gauges of a scrape agree with each other. */
interface ClusterRows {
  nodes: { status: string; availability: string; role: string; n: number }[];
  services: { state: string; n: number }[];
  tasks: { state: string; n: number }[];
  replicas: { service: string; desired: number; running: number; healthy: number }[];
  raft: { leader: boolean; term: number; commitIndex: number; appliedIndex: number };
}

function readClusterRows(db: Db): ClusterRows {
  return db.transaction((): ClusterRows => {
    const counts = taskCountsByService(db);
    const wanted = wantedByService(db);
    const hardState = prepared(db, 'SELECT term, commit_index AS commitIndex FROM raft_hard_state WHERE id = 0').get() as
      | { term: number; commitIndex: number }
      | undefined;
    const nodeId = getLocal(db, 'node_id');
    return {
      nodes: prepared(db, 'SELECT status, availability, role, count(*) AS n FROM nodes GROUP BY status, availability, role').all() as ClusterRows['nodes'],
      services: prepared(db, 'SELECT state, count(*) AS n FROM services GROUP BY state').all() as ClusterRows['services'],
      tasks: prepared(db, 'SELECT state, count(*) AS n FROM tasks GROUP BY state').all() as ClusterRows['tasks'],
      // A global service wants one task per eligible node: its stored count is not used (as GET /services shows it).
      replicas: listServices(db).map((s) => ({
        service: s.name,
        desired: s.mode === 'global' ? (wanted.get(s.name) ?? 0) : s.replicas,
        running: counts.get(s.name)?.running ?? 0,
        healthy: counts.get(s.name)?.healthy ?? 0,
      })),
      raft: {
        leader: nodeId !== undefined && nodeId !== '' && getLocal(db, 'leader_id') === nodeId,
        term: hardState?.term ?? 0,
        commitIndex: hardState?.commitIndex ?? 0,
        appliedIndex: Number(getLocal(db, 'applied_index') ?? 0),
      },
    };
  })();
}

/**
 * Counts by label set, with a zero for every combination of the known values
 * (so `bicycle_nodes{status="DOWN"} > 0` can be written before a node is ever
 * down); a value outside them (a newer schema) is still counted.
 */
export function countSeries<L extends string>(
  known: Record<L, readonly string[]>, rows: readonly (Record<NoInfer<L>, string> & { n: number })[],
): { labels: Record<L, string>; value: number }[] {
  const names = Object.keys(known) as L[];
  const key = (labels: Record<L, string>) => JSON.stringify(names.map((n) => labels[n]));
  const series = new Map<string, { labels: Record<L, string>; value: number }>();
  let combinations: Record<L, string>[] = [{} as Record<L, string>];
  for (const name of names) combinations = combinations.flatMap((c) => known[name].map((v) => ({ ...c, [name]: v })));
  for (const labels of combinations) series.set(key(labels), { labels, value: 0 });
  for (const row of rows) {
    const labels = Object.fromEntries(names.map((n) => [n, String(row[n])])) as Record<L, string>;
    const entry = series.get(key(labels));
    if (entry) entry.value += row.n;
    else series.set(key(labels), { labels, value: row.n });
  }
  return [...series.values()];
}

/** The REST thread's metrics: the registry, the route that serves it, and the middleware that times requests. */
export interface Metrics {
  registry: Registry;
  /** GET /metrics: the registry in Prometheus' text format, with its content type. */
  router: Router;
  /** Counts and times every request by method, matched route pattern and status; use it before the other middleware. */
  middleware: Middleware;
}

/**
 * Defines every metric on a registry of its own (one per app, so several
 * apps in one process do not collide). `processMetrics` adds prom-client's
 * default process and Node.js metrics, `bicycle_`-prefixed; in the daemon they
 * describe the REST thread (heap, event loop) and the process (CPU, memory).
 * `threadMetrics`, in the daemon, gives the other threads' metrics in text
 * format at each scrape (daemon/metrics/collector.ts); they follow this
 * registry's in the answer.
 */
export function createMetrics(db: Db, options: { processMetrics?: boolean; threadMetrics?: () => Promise<string> } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: PREFIX });

  // One read per scrape: set while the route renders, read by every collect() below.
  let scrape: ClusterRows | undefined;
  const rows = () => scrape ?? readClusterRows(db);
  const registers = [registry];

  new Gauge({
    name: `${PREFIX}nodes`, help: 'Member nodes, by status, availability and role.', labelNames: ['status', 'availability', 'role'], registers,
    collect() {
      this.reset();
      const known = { status: NODE_STATUSES, availability: NODE_AVAILABILITIES, role: NODE_ROLES };
      for (const s of countSeries(known, rows().nodes)) this.set(s.labels, s.value);
    },
  });
  new Gauge({
    name: `${PREFIX}services`, help: 'Services, by state.', labelNames: ['state'], registers,
    collect() {
      this.reset();
      for (const s of countSeries({ state: SERVICE_STATES }, rows().services)) this.set(s.labels, s.value);
    },
  });
  new Gauge({
    name: `${PREFIX}tasks`, help: 'Tasks (replicas, current and kept history), by observed state.', labelNames: ['state'], registers,
    collect() {
      this.reset();
      for (const s of countSeries({ state: TASK_STATES }, rows().tasks)) this.set(s.labels, s.value);
    },
  });
  const replicaGauge = (suffix: string, help: string, field: 'desired' | 'running' | 'healthy') =>
    new Gauge({
      name: `${PREFIX}service_replicas_${suffix}`, help, labelNames: ['service'], registers,
      collect() {
        this.reset();
        for (const r of rows().replicas) this.set({ service: r.service }, r[field]);
      },
    });
  replicaGauge('desired', 'Replicas a service wants: its replica count, or for a global service one per eligible node.', 'desired');
  replicaGauge('running', 'A service\'s tasks wanted running and observed running.', 'running');
  replicaGauge('healthy', 'Of a service\'s running tasks, those that serve: healthy, or without a health check.', 'healthy');

  const raftGauge = (name: string, help: string, value: (raft: ClusterRows['raft']) => number) =>
    new Gauge({ name: `${PREFIX}raft_${name}`, help, registers, collect() { this.set(value(rows().raft)); } });
  raftGauge('leader', '1 if this node is the Raft leader, else 0.', (r) => (r.leader ? 1 : 0));
  raftGauge('term', 'The Raft term this node has persisted.', (r) => r.term);
  raftGauge('commit_index', 'The highest Raft log index this node knows committed (as persisted).', (r) => r.commitIndex);
  raftGauge('applied_index', 'The highest Raft log index applied to this node\'s database.', (r) => r.appliedIndex);
  raftGauge('apply_lag_entries', 'Committed Raft entries not yet applied to this node\'s database.', (r) => Math.max(0, r.commitIndex - r.appliedIndex));

  const requests = new Counter({
    name: `${PREFIX}http_requests_total`, help: 'REST requests answered, by method, matched route pattern and status.', labelNames: ['method', 'route', 'status'], registers,
  });
  const duration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'REST request durations, from arrival until the answer was sent (a followed stream: until it ended), by method, matched route pattern and status.',
    labelNames: ['method', 'route', 'status'], buckets: HTTP_BUCKETS_SECONDS, registers,
  });

  const middleware: Middleware = async (k, next) => {
    const started = performance.now();
    let recorded = false;
    // On the response's end, not the handler's: koa writes the body after the middleware return, and streams after that.
    const record = () => {
      if (recorded) return;
      recorded = true;
      const labels = {
        method: METHODS.has(k.method) ? k.method : 'other',
        route: k._matchedRoute === undefined ? UNMATCHED_ROUTE : String(k._matchedRoute),
        status: String(k.status),
      };
      requests.inc(labels);
      duration.observe(labels, (performance.now() - started) / 1000);
    };
    k.res.once('finish', record);
    k.res.once('close', record);
    await next();
  };

  const router = new Router();
  router.get('/metrics', async (k) => {
    scrape = readClusterRows(db);
    try {
      // Before the body: koa sets text/plain on a string body only where no type was set.
      k.set('Content-Type', registry.contentType);
      const [own, threads] = await Promise.all([registry.metrics(), options.threadMetrics?.() ?? '']);
      k.body = threads ? `${own.endsWith('\n') ? own : `${own}\n`}${threads}` : own;
    } finally {
      scrape = undefined;
    }
  });
  return { registry, router, middleware };
}
