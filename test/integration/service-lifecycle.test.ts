import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { clusterContainers, requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

describe('a service on one node, against the real engine', () => {
  let docker: Docker;
  let daemon: TestDaemon;
  let cluster: string;
  const running = async (service: string) =>
    (await clusterContainers(docker, cluster, { 'io.bicycle.service': service })).filter((c) => c.state === 'running');

  before(async () => {
    docker = await requireDocker();
    daemon = await startDaemon();
    cluster = await daemon.clusterId();
  });
  after(async () => {
    const code = await daemon?.stop();
    assert.equal(code, 0, 'bicycled exits 0 on SIGTERM');
  });

  test('3 replicas run with the labels, env and command asked for', async () => {
    const res = await api(daemon.url).post('/services?wait=true&timeout=30', {
      name: 'web', image: TEST_IMAGE, replicas: 3, command: ['sleep', '3600'], env: { GREETING: 'hello' }, labels: { team: 'blue' },
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.name, 'web');
    assert.equal(res.body.replicas, 3);
    assert.equal(res.body.running, 3);
    assert.equal(res.body.state, 'RUNNING');
    assert.equal(res.body.tasks.filter((t: any) => t.state === 'RUNNING').length, 3);
    for (const t of res.body.tasks) assert.equal(t.node, 'node-1');

    const containers = await running('web');
    assert.equal(containers.length, 3);
    assert.deepEqual(containers.map((c) => c.labels['io.bicycle.slot']).sort(), ['1', '2', '3']);
    for (const c of containers) {
      assert.equal(c.labels['io.bicycle.cluster'], cluster);
      assert.equal(c.labels['io.bicycle.service'], 'web');
      assert.equal(c.labels.team, 'blue');
      assert.ok(c.labels['io.bicycle.node'], 'node label');
      assert.match(c.name, /^web\.[123]\.[0-9a-f]+$/);
      const info = await docker.getContainer(c.id).inspect();
      assert.ok(info.Config.Env.includes('GREETING=hello'));
      assert.deepEqual(info.Config.Cmd, ['sleep', '3600']);
      assert.ok(res.body.tasks.some((t: any) => t.containerId === c.id && t.id === c.labels['io.bicycle.task']));
    }
  });

  test('scale to 5, then to 1', async () => {
    const up = await api(daemon.url).patch('/services/web?wait=true&timeout=30', { replicas: 5 });
    assert.equal(up.status, 200);
    assert.equal(up.body.running, 5);
    assert.equal((await running('web')).length, 5);

    const down = await api(daemon.url).patch('/services/web?wait=true&timeout=30', { replicas: 1 });
    assert.equal(down.status, 200);
    assert.equal(down.body.running, 1);
    assert.equal(down.body.version, 3);
    const left = await running('web');
    assert.equal(left.length, 1);
    assert.equal(left[0]!.labels['io.bicycle.slot'], '1');
  });

  test('an update replaces the containers with the new spec', async () => {
    const before = (await running('web')).map((c) => c.id);
    await api(daemon.url).patch('/services/web?wait=true&timeout=30', { replicas: 2 });
    const res = await api(daemon.url).patch('/services/web?wait=true&timeout=30', { env: { GREETING: 'hi' }, command: ['sleep', '7200'] });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'RUNNING');
    assert.deepEqual(res.body.env, { GREETING: 'hi' });
    const now = await running('web');
    assert.equal(now.length, 2);
    for (const c of now) {
      assert.ok(!before.includes(c.id), 'every container was replaced');
      const info = await docker.getContainer(c.id).inspect();
      assert.ok(info.Config.Env.includes('GREETING=hi'));
      assert.deepEqual(info.Config.Cmd, ['sleep', '7200']);
    }
  });

  test('docker kill of a replica: a replacement runs within 10 s and State shows it', async () => {
    const [victim] = await running('web');
    await docker.getContainer(victim!.id).kill();
    const replacement = await waitFor('a replacement container', async () => {
      const now = await running('web');
      return now.length === 2 && !now.some((c) => c.id === victim!.id) ? now : undefined;
    }, 10_000);
    const state = await waitFor('State to show the replacement running', async () => {
      const s = (await api(daemon.url).get('/state')).body;
      const ids = s.containers.filter((c: any) => c.service === 'web' && c.state === 'RUNNING').map((c: any) => c.id).sort();
      return JSON.stringify(ids) === JSON.stringify(replacement.map((c) => c.id).sort()) ? s : undefined;
    }, 10_000);
    assert.equal(state.services.find((s: any) => s.name === 'web').running, 2);
    const ps = (await api(daemon.url).get('/services/web')).body;
    assert.ok(ps.tasks.some((t: any) => t.state === 'FAILED' && /exited with code 137/.test(t.error)), 'the killed task shows why it ended');
  });

  test('State has the cluster, the node, the service and its containers with uptimes and stats', async () => {
    const state = await waitFor('a stats sample', async () => {
      const s = (await api(daemon.url).get('/state')).body;
      return s.containers.length > 0 && s.containers.every((c: any) => c.memoryBytes !== null) ? s : undefined;
    }, 15_000);
    assert.equal(state.cluster.id, cluster);
    assert.equal(state.cluster.leader, 'node-1');
    assert.ok(state.cluster.term >= 1, 'a term');
    assert.equal(state.nodes.length, 1);
    const [node] = state.nodes;
    assert.equal(node.name, 'node-1');
    assert.equal(node.status, 'READY');
    assert.equal(node.role, 'manager');
    assert.equal(node.leader, true);
    assert.equal(typeof node.uptimeSeconds, 'number');
    assert.ok(node.address.startsWith('127.0.0.1:'));
    const web = state.services.find((s: any) => s.name === 'web');
    assert.deepEqual({ image: web.image, replicas: web.replicas, running: web.running }, { image: TEST_IMAGE, replicas: 2, running: 2 });
    for (const c of state.containers) {
      assert.equal(c.service, 'web');
      assert.equal(c.node, 'node-1');
      assert.equal(typeof c.slot, 'number');
      assert.equal(typeof c.uptimeSeconds, 'number');
      assert.equal(typeof c.cpuPercent, 'number');
      assert.ok(c.memoryBytes > 0);
    }
  });

  test('deleting a service with no replicas answers 202 even when the deletion finishes before the answer', async () => {
    for (let i = 0; i < 20; i++) {
      const name = `empty-${i}`;
      assert.equal((await api(daemon.url).post('/services', { name, image: TEST_IMAGE, replicas: 0 })).status, 201);
      const res = await api(daemon.url).delete(`/services/${name}`);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.ok(['DELETE', 'DELETING', 'DELETED'].includes(res.body.state));
    }
    await waitFor('the empty services to be gone', async () => (await api(daemon.url).get('/services')).body.services.every((s: any) => !s.name.startsWith('empty-')), 10_000);
  });

  test('rm removes every container, then the service', async () => {
    const res = await api(daemon.url).delete('/services/web');
    assert.equal(res.status, 202);
    assert.ok(['DELETE', 'DELETING'].includes(res.body.state));
    await waitFor('the service to be gone', async () => (await api(daemon.url).get('/services/web')).status === 404, 20_000);
    assert.equal((await clusterContainers(docker, cluster, { 'io.bicycle.service': 'web' })).length, 0);
    assert.equal((await api(daemon.url).get('/state')).body.services.length, 0);
  });
});
