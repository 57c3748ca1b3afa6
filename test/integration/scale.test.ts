import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

const MAX_REPLICAS = 6000;

/**
 * Thousands of tasks on one real bicycled: the list endpoints stay small,
 * pages walk every task once, the replica limit answers 409 naming itself,
 * and a large crash-looping service is deleted at once, with no container
 * created for it after the delete is answered.
 */
describe('a few thousand tasks on one node', () => {
  let docker: Docker;
  let daemon: TestDaemon;
  let nodeId: string;

  before(async () => {
    docker = await requireDocker();
    daemon = await startDaemon({ config: { deployment: { maxReplicas: MAX_REPLICAS } } });
    nodeId = (await api(daemon.url).get('/nodes')).body.nodes[0].id;
  });
  after(async () => {
    await daemon?.stop();
  });

  test('GET /services summarises 3,000 tasks in a bounded answer, and a page walk sees each task exactly once', async () => {
    // Drained: the 3,000 tasks wait for a node, so the set is stable while it is walked.
    assert.equal((await api(daemon.url).patch(`/nodes/${nodeId}`, { availability: 'drain' })).status, 200);
    assert.equal((await api(daemon.url).post('/services', { name: 'steady', image: TEST_IMAGE, replicas: 3000, command: ['sleep', '3600'] })).status, 201);
    await waitFor('3,000 tasks created', async () => (await api(daemon.url).get('/services')).body.services[0]?.taskCounts?.total === 3000, 30_000);

    const res = await fetch(`${daemon.url}/services`);
    const text = await res.text();
    assert.ok(text.length < 4096, `GET /services is ${text.length} bytes for 3,000 tasks`);
    const [steady] = JSON.parse(text).services;
    assert.equal('tasks' in steady, false, 'no task rows in the list');
    assert.deepEqual(steady.taskCounts, { total: 3000, byState: { NEW: 3000 } });
    assert.equal(steady.running, 0);

    const one = (await api(daemon.url).get('/services/steady')).body;
    assert.equal(one.tasks.length, 3000, 'the service itself shows its current tasks');

    const seen = new Set<string>();
    let after: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; body: { tasks: { id: string; slot: number }[]; next: string | null } } = await api(daemon.url).get(
        `/services/steady/tasks?limit=700${after ? `&after=${encodeURIComponent(after)}` : ''}`,
      );
      assert.equal(page.status, 200);
      for (const t of page.body.tasks) {
        assert.equal(seen.has(t.id), false, `task ${t.id} seen twice`);
        seen.add(t.id);
      }
      after = page.body.next;
      pages++;
    } while (after);
    assert.equal(seen.size, 3000);
    assert.equal(pages, 5);
    const bad = await api(daemon.url).get('/services/steady/tasks?after=nonsense');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^after: /);

    const state = (await api(daemon.url).get('/state')).body;
    assert.deepEqual(state.containerCounts, { total: 0, byService: {}, byNode: {} });
    assert.equal(state.containersTruncated, false);

    const started = Date.now();
    assert.equal((await api(daemon.url).delete('/services/steady?wait=true&timeout=30')).status, 200);
    assert.ok(Date.now() - started < 10_000, `deleting 3,000 unplaced tasks took ${Date.now() - started} ms`);
    assert.equal((await api(daemon.url).patch(`/nodes/${nodeId}`, { availability: 'active' })).status, 200);
  });

  test('a large crash-looping service: the limit names itself, DELETE answers at once and no container is created after it', async () => {
    // Every replica's container exits at once: a crash loop with history, as a fuzzer leaves behind.
    assert.equal((await api(daemon.url).post('/services', { name: 'crash', image: TEST_IMAGE, replicas: 2000, command: ['false'] })).status, 201);

    const refused = await api(daemon.url).post('/services', { name: 'more', image: TEST_IMAGE, replicas: 4500 });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'REPLICA_LIMIT');
    assert.equal(refused.body.error.message, 'the cluster would run 6,500 replicas; the limit is 6,000 (deployment.maxReplicas)');
    const scaled = await api(daemon.url).patch('/services/crash', { replicas: 6001 });
    assert.equal(scaled.status, 409);
    assert.match(scaled.body.error.message, /the cluster would run 6,001 replicas; the limit is 6,000 \(deployment\.maxReplicas\)/);

    // Slow on a loaded machine: the engine creates and starts each container before it exits.
    await waitFor('the crash loop to have failed 20 tasks', async () => ((await api(daemon.url).get('/services')).body.services[0]?.taskCounts?.byState?.FAILED ?? 0) >= 20, 240_000, 250);

    const creates: number[] = [];
    const events = await docker.getEvents({ filters: { type: ['container'], event: ['create'], label: ['io.bicycle.service=crash'] } });
    events.on('data', () => creates.push(Date.now()));
    const asked = Date.now();
    const answer = await api(daemon.url).delete('/services/crash');
    const answered = Date.now();
    assert.equal(answer.status, 202);
    assert.ok(answered - asked < 5000, `DELETE answered in ${answered - asked} ms`);

    await waitFor('the service to be removed', async () => (await api(daemon.url).get('/services/crash')).status === 404, 120_000, 250);
    await new Promise((r) => setTimeout(r, 2000));
    (events as unknown as { destroy(): void }).destroy();
    // Creates already under way when the delete was applied may land just after it (at most deployment.concurrency);
    // none may start later.
    const late = creates.filter((t) => t > answered);
    assert.ok(late.length <= 8, `${late.length} containers created after DELETE answered`);
    assert.deepEqual(late.filter((t) => t > answered + 2000), [], 'no container created 2 s after DELETE answered');
    const left = await docker.listContainers({ all: true, filters: { label: ['io.bicycle.service=crash'] } });
    assert.deepEqual(left, [], 'nothing of the service left on the engine');
  });
});
