import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

/** Every series of a text-format scrape, by its name and labels as written (`name{a="1",b="2"}`). */
function parseScrape(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    series.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return series;
}

async function scrape(url: string): Promise<{ contentType: string | null; series: Map<string, number>; text: string }> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  return { contentType: res.headers.get('content-type'), series: parseScrape(text), text };
}

/**
 * GET /metrics on one real bicycled against the real engine: what a
 * Prometheus scrape shows after a service is created and converges matches
 * what the daemon did and what GET /state says.
 */
describe('GET /metrics', () => {
  let daemon: TestDaemon;

  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    await daemon?.stop();
  });

  test('a converged service, its tasks, the Raft leader and the requests that made them', async () => {
    const created = await api(daemon.url).post('/services?wait=true&timeout=60', { name: 'web', image: TEST_IMAGE, replicas: 2, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitFor('web running 2', async () => (await api(daemon.url).get('/services/web')).body.running === 2, 60_000);
    const state = (await api(daemon.url).get('/state')).body;
    const nodeId = (await api(daemon.url).get('/nodes')).body.nodes[0].id as string;
    assert.equal((await api(daemon.url).get(`/nodes/${nodeId}`)).status, 200);

    // The service's state settles a moment after its replicas run: scrape once it has.
    const { contentType, series, text } = await waitFor('metrics show web RUNNING', async () => {
      const s = await scrape(daemon.url);
      return s.series.get('bicycle_services{state="RUNNING"}') === 1 ? s : undefined;
    }, 30_000);
    assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(text, /^# TYPE bicycle_http_request_duration_seconds histogram$/m);
    assert.match(text, /^# TYPE bicycle_http_requests_total counter$/m);
    assert.match(text, /^# TYPE bicycle_service_replicas_desired gauge$/m);

    assert.equal(series.get('bicycle_service_replicas_desired{service="web"}'), 2);
    assert.equal(series.get('bicycle_service_replicas_running{service="web"}'), 2);
    assert.equal(series.get('bicycle_service_replicas_healthy{service="web"}'), 2, 'no health check: running is serving');
    assert.equal(series.get('bicycle_tasks{state="RUNNING"}'), 2);
    for (const other of ['NEW', 'ASSIGNED', 'STARTING', 'FAILED', 'ORPHANED']) assert.equal(series.get(`bicycle_tasks{state="${other}"}`), 0, other);
    assert.equal(series.get('bicycle_services{state="DEGRADED"}'), 0);
    assert.equal(series.get('bicycle_nodes{status="READY",availability="active",role="manager"}'), 1);
    assert.equal(series.get('bicycle_nodes{status="DOWN",availability="active",role="manager"}'), 0);

    // A cluster of one leads at once, in the term GET /state shows, with nothing left to apply.
    assert.equal(series.get('bicycle_raft_leader'), 1);
    assert.equal(series.get('bicycle_raft_term'), state.cluster.term);
    const commit = series.get('bicycle_raft_commit_index')!;
    const applied = series.get('bicycle_raft_applied_index')!;
    assert.ok(commit > 0 && applied > 0, `commit ${commit}, applied ${applied}`);
    assert.ok(series.get('bicycle_raft_apply_lag_entries')! >= 0);

    // Requests by route pattern: the POST that created web, the node read by its id, never the id itself.
    assert.equal(series.get('bicycle_http_requests_total{method="POST",route="/services",status="201"}'), 1);
    assert.equal(series.get('bicycle_http_request_duration_seconds_count{method="POST",route="/services",status="201"}'), 1);
    assert.ok(series.get('bicycle_http_request_duration_seconds_sum{method="POST",route="/services",status="201"}')! > 0, 'the wait took time');
    assert.ok((series.get('bicycle_http_requests_total{method="GET",route="/services/:name",status="200"}') ?? 0) >= 1);
    assert.equal(series.get('bicycle_http_requests_total{method="GET",route="/nodes/:id",status="200"}'), 1);
    assert.doesNotMatch(text, new RegExp(nodeId), 'no node id in a label');

    // Node.js and process metrics, from the REST thread, prefixed like the rest.
    assert.ok(series.has('bicycle_process_cpu_seconds_total'));
    assert.ok(series.has('bicycle_nodejs_eventloop_lag_seconds'));
    for (const name of series.keys()) assert.ok(name.startsWith('bicycle_'), name);
  });
});
