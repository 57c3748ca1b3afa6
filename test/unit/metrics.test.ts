import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { RestContext } from '../../modules/context';
import { serveApp, stubRestContext } from '../helpers/rest-context';
import { countSeries, createMetrics, UNMATCHED_ROUTE } from '../../modules/metrics';
import { openDatabase } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import { setLocal } from '../../database/queries';
import type { Command } from '../../database/commands';

/** GET /metrics over a real database (no Raft, no threads, no Docker): the gauges read the rows as they are when scraped. */

const AT = 1_700_000_000_000;
const SPEC = { image: 'i:1', command: null, env: {}, labels: {}, ports: [] };

function apply(db: RestContext['db'], command: Command): void {
  const result = applyCommand(db, command);
  assert.ok(result.ok, JSON.stringify(result));
}

/** The value of one series in a text-format scrape, or undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('countSeries', () => {
  test('a zero for every known combination, the rows counted in, an unknown value kept', () => {
    const series = countSeries({ status: ['READY', 'DOWN'], role: ['manager', 'worker'] }, [
      { status: 'READY', role: 'manager', n: 2 },
      { status: 'LOST', role: 'worker', n: 1 },
    ]);
    assert.deepEqual(series, [
      { labels: { status: 'READY', role: 'manager' }, value: 2 },
      { labels: { status: 'READY', role: 'worker' }, value: 0 },
      { labels: { status: 'DOWN', role: 'manager' }, value: 0 },
      { labels: { status: 'DOWN', role: 'worker' }, value: 0 },
      { labels: { status: 'LOST', role: 'worker' }, value: 1 },
    ]);
  });
});

describe('GET /metrics', () => {
  const db = openDatabase(':memory:', { migrate: true });
  const ctx: RestContext = stubRestContext(db, { propose: async (command) => applyCommand(db, command), now: () => AT });

  let server: Server;
  let base = '';
  before(async () => {
    apply(db, { type: 'node.register', node: { id: 'n1', name: 'node-1', address: '127.0.0.1:1', role: 'manager', startedAt: AT }, at: AT });
    apply(db, { type: 'node.set-status', nodeId: 'n1', status: 'READY', at: AT });
    apply(db, { type: 'service.create', id: 's1', name: 'web', spec: SPEC, replicas: 3, at: AT });
    for (const slot of [1, 2]) {
      apply(db, { type: 'task.create', id: `t${slot}`, serviceName: 'web', slot, specVersion: 1, nodeId: 'n1', at: AT });
    }
    apply(db, { type: 'task.observe', taskId: 't1', state: 'RUNNING', containerId: 'c1', startedAt: AT, health: 'healthy', at: AT });
    apply(db, { type: 'task.observe', taskId: 't2', state: 'RUNNING', containerId: 'c2', startedAt: AT, health: 'unhealthy', at: AT });
    setLocal(db, 'node_id', 'n1');
    setLocal(db, 'leader_id', 'n1');
    db.prepare('INSERT INTO raft_hard_state (id, term, vote, commit_index) VALUES (0, 4, ?, 12)').run('n1');
    setLocal(db, 'applied_index', '9');
    ({ server, base } = await serveApp(ctx));
  });
  after(() => {
    server.close();
    db.close();
  });

  async function scrape(): Promise<string> {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), createMetrics(db, { processMetrics: false }).registry.contentType);
    return res.text();
  }

  test('the cluster\'s gauges are the rows as they are when scraped', async () => {
    const text = await scrape();
    assert.equal(sample(text, 'bicycle_nodes{status="READY",availability="active",role="manager"}'), 1);
    assert.equal(sample(text, 'bicycle_nodes{status="DOWN",availability="active",role="manager"}'), 0);
    assert.equal(sample(text, 'bicycle_services{state="NEW"}'), 1);
    assert.equal(sample(text, 'bicycle_services{state="RUNNING"}'), 0);
    assert.equal(sample(text, 'bicycle_tasks{state="RUNNING"}'), 2);
    assert.equal(sample(text, 'bicycle_tasks{state="FAILED"}'), 0);
    assert.equal(sample(text, 'bicycle_service_replicas_desired{service="web"}'), 3);
    assert.equal(sample(text, 'bicycle_service_replicas_running{service="web"}'), 2);
    assert.equal(sample(text, 'bicycle_service_replicas_healthy{service="web"}'), 1);
    assert.equal(sample(text, 'bicycle_raft_leader'), 1);
    assert.equal(sample(text, 'bicycle_raft_term'), 4);
    assert.equal(sample(text, 'bicycle_raft_commit_index'), 12);
    assert.equal(sample(text, 'bicycle_raft_applied_index'), 9);
    assert.equal(sample(text, 'bicycle_raft_apply_lag_entries'), 3);
    assert.ok(sample(text, 'bicycle_process_cpu_seconds_total') !== undefined, 'process metrics, prefixed');
    assert.deepEqual(text.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('bicycle_')), [], 'every metric is bicycle_-prefixed');

    // A change between scrapes shows in the next one, and a removed service's series go.
    apply(db, { type: 'task.observe', taskId: 't2', state: 'FAILED', error: 'exited', exitCode: 1, at: AT + 1 });
    setLocal(db, 'leader_id', 'n2');
    const next = await scrape();
    assert.equal(sample(next, 'bicycle_service_replicas_running{service="web"}'), 1);
    assert.equal(sample(next, 'bicycle_tasks{state="FAILED"}'), 1);
    assert.equal(sample(next, 'bicycle_raft_leader'), 0);
  });

  test('requests are counted and timed by their route pattern, never the raw path', async () => {
    await fetch(`${base}/services/web`);
    await fetch(`${base}/services/no-such-service`);
    await fetch(`${base}/no/such/route/abc123`);
    const text = await scrape();
    assert.equal(sample(text, 'bicycle_http_requests_total{method="GET",route="/services/:name",status="200"}'), 1);
    assert.equal(sample(text, 'bicycle_http_requests_total{method="GET",route="/services/:name",status="404"}'), 1);
    assert.equal(sample(text, `bicycle_http_requests_total{method="GET",route="${UNMATCHED_ROUTE}",status="404"}`), 1);
    assert.equal(sample(text, 'bicycle_http_request_duration_seconds_count{method="GET",route="/services/:name",status="200"}'), 1);
    assert.equal(sample(text, 'bicycle_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/services/:name",status="200"}'), 1);
    assert.doesNotMatch(text, /no-such-service|abc123/, 'no raw path in a label');
  });
});
