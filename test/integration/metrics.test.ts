import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { freePort, startDaemon, type TestDaemon } from '../helpers/daemon';
import { execIn, requireDocker, TEST_IMAGE } from '../helpers/docker';
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

  test('the voting and deployment threads\' metrics: container starts, scheduling delay, reconcile passes, proposals and applies', async () => {
    const before = (await scrape(daemon.url)).series;
    const started = performance.now();
    const created = await api(daemon.url).post('/services?wait=true&timeout=60', { name: 'counted', image: TEST_IMAGE, replicas: 3, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitFor('counted running 3', async () => (await api(daemon.url).get('/services/counted')).body.running === 3, 60_000);
    const tookSeconds = (performance.now() - started) / 1000;
    const { series: after, text } = await scrape(daemon.url);
    const grew = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);

    for (const thread of ['voting', 'deployment']) assert.equal(after.get(`bicycle_thread_metrics_fresh{thread="${thread}"}`), 1, thread);
    assert.match(text, /^# TYPE bicycle_container_starts_total counter$/m);
    assert.match(text, /^# TYPE bicycle_task_scheduling_delay_seconds histogram$/m);
    assert.match(text, /^# TYPE bicycle_raft_proposal_duration_seconds histogram$/m);

    // Three replicas: three containers started, three tasks went from NEW to RUNNING, each within the time the create took.
    assert.ok(grew('bicycle_container_starts_total') >= 3, `starts grew by ${grew('bicycle_container_starts_total')}`);
    assert.equal(grew('bicycle_task_scheduling_delay_seconds_count'), 3);
    const delaySum = grew('bicycle_task_scheduling_delay_seconds_sum');
    assert.ok(delaySum > 0 && delaySum <= 3 * tookSeconds, `scheduling delays sum to ${delaySum} s; the create took ${tookSeconds} s`);
    assert.equal(after.get('bicycle_task_scheduling_delay_seconds_bucket{le="+Inf"}'), after.get('bicycle_task_scheduling_delay_seconds_count'));
    assert.equal(after.get('bicycle_container_start_failures_total{reason="start"}'), 0);

    // The loops passed, the orchestrator's and the agent's since the create; the traffic and pre-pull loops run too.
    assert.ok(grew('bicycle_reconcile_pass_duration_seconds_count{loop="orchestrator"}') > 0);
    assert.ok(grew('bicycle_reconcile_pass_duration_seconds_count{loop="agent"}') > 0);
    for (const loop of ['traffic', 'prepull']) assert.ok((after.get(`bicycle_reconcile_pass_duration_seconds_count{loop="${loop}"}`) ?? 0) > 0, loop);

    // The create, the three tasks' creation, assignment and the agent's reports: proposals made here, all committed; the create applied once.
    assert.ok(grew('bicycle_raft_proposal_duration_seconds_count{outcome="committed"}') >= 2);
    assert.ok(grew('bicycle_raft_proposal_duration_seconds_sum{outcome="committed"}') > 0);
    assert.equal(grew('bicycle_raft_apply_duration_seconds_count{command="service.create"}'), 1);
    assert.ok(grew('bicycle_raft_apply_duration_seconds_count{command="batch"}') >= 1);
    assert.doesNotMatch(text, /task_id|container_id/, 'no task or container ids in labels');
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    assert.equal(new Set(names).size, names.length, 'every metric is listed once');
  });

  test('an image that cannot be pulled raises the start-failure counter', async () => {
    const before = (await scrape(daemon.url)).series.get('bicycle_container_start_failures_total{reason="image_pull"}');
    assert.equal(before, 0, 'listed at zero before any failure');
    const created = await api(daemon.url).post('/services', { name: 'unpullable', image: '127.0.0.1:1/bicycle/nosuch:1', replicas: 1, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitFor('the pull failure counted', async () => ((await scrape(daemon.url)).series.get('bicycle_container_start_failures_total{reason="image_pull"}') ?? 0) >= 1, 30_000);
    const tasks = (await api(daemon.url).get('/services/unpullable')).body;
    assert.notEqual(tasks.running, 1, 'nothing runs');
    assert.equal((await api(daemon.url).delete('/services/unpullable')).status < 300, true);
  });

  test('connections and bytes through a published port, on the Node.js hop and on the kernel path', async () => {
    const docker = await requireDocker();
    const port = await freePort('0.0.0.0');
    const created = await api(daemon.url).post('/services?wait=true&timeout=60', {
      name: 'served', image: TEST_IMAGE, replicas: 1, command: ['httpd', '-f', '-p', '80', '-h', '/www'], ports: [{ published: port, target: 80 }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const client = await api(daemon.url).post('/services?wait=true&timeout=60', { name: 'metrics-client', image: TEST_IMAGE, replicas: 1, command: ['sleep', '3600'] });
    assert.equal(client.status, 201, JSON.stringify(client.body));
    const request = `GET / HTTP/1.0\r\nHost: served\r\n\r\n`;
    await waitFor('the port answers', async () => (await exchange(port, request)).includes('200 OK'), 20_000, 100);
    // `served` resolves, in a container, to its bridge's gateway: this node's own address.
    const url = `http://served:${port}/`;
    // The name and the kernel's rules come a moment after the host path on a loaded machine; the last answer says which is missing.
    let last = '';
    await waitFor('the port answers a container', async () => (last = await execIn(docker, 'metrics-client', ['timeout', '5', 'wget', '-qO-', url])).includes('bicycle test page'), 45_000, 200)
      .catch((error: Error) => { throw new Error(`${error.message}; the container's last wget printed: ${JSON.stringify(last.slice(0, 300))}`); });

    const K = 5;
    const before = (await scrape(daemon.url)).series;
    // From this host (loopback): the kernel does not see these (no PREROUTING), the hop carries them.
    let received = 0;
    for (let i = 0; i < K; i++) {
      const answer = await exchange(port, request);
      assert.match(answer, /^HTTP\/1\.[01] 200/);
      received += Buffer.byteLength(answer);
    }
    // From a container to the bridge's gateway: PREROUTING sends them straight to the replica (DNAT).
    let fetched = 0;
    for (let i = 0; i < K; i++) {
      const body = await execIn(docker, 'metrics-client', ['timeout', '5', 'wget', '-qO-', url]);
      assert.match(body, /bicycle test page/);
      fetched += Buffer.byteLength(body);
    }
    // The kernel's counters are read at most once a second: a scrape may show a read up to 1 s old.
    const { series: after } = await waitFor('the kernel path counted', async () => {
      const s = await scrape(daemon.url);
      const kernel = (s.series.get('bicycle_traffic_connections_total{service="served",path="kernel"}') ?? 0) - (before.get('bicycle_traffic_connections_total{service="served",path="kernel"}') ?? 0);
      return kernel >= K ? s : undefined;
    }, 5000, 200);
    const grew = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    const hop = (what: string) => grew(`bicycle_traffic_${what}{service="served",path="hop"}`);
    assert.ok(hop('connections_total') >= K, `hop connections grew by ${hop('connections_total')}`);
    assert.ok(grew('bicycle_traffic_bytes_total{service="served",path="hop",direction="in"}') >= K * Buffer.byteLength(request));
    assert.ok(grew('bicycle_traffic_bytes_total{service="served",path="hop",direction="out"}') >= received);
    const kernel = grew('bicycle_traffic_connections_total{service="served",path="kernel"}');
    assert.ok(kernel >= K, `kernel connections grew by ${kernel}`);
    // Packet bytes, IP and TCP headers included: at least the bodies the container read.
    assert.ok(grew('bicycle_traffic_bytes_total{service="served",path="kernel",direction="out"}') >= fetched);
    assert.ok(grew('bicycle_traffic_bytes_total{service="served",path="kernel",direction="in"}') > 0);
    assert.equal(after.get('bicycle_traffic_connections_total{service="metrics-client",path="hop"}'), undefined, 'a service without ports has no traffic series');
  });
});

/** One HTTP/1.0 exchange over a plain socket: what was answered, in full. */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}
