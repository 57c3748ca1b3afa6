import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { clusterContainers, requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

let docker: Docker;
let daemon: TestDaemon | undefined;

before(async () => {
  docker = await requireDocker();
});
after(async () => {
  await daemon?.stop();
});

test('kill -9 in the middle of a 10-replica deployment, then a restart: exactly 10 containers, none twice, no service lost', async () => {
  const first = await startDaemon();
  daemon = first;
  const cluster = await first.clusterId();
  const res = await api(first.url).post('/services', { name: 'crashy', image: TEST_IMAGE, replicas: 10, command: ['sleep', '3600'] });
  assert.equal(res.status, 201);
  // Kill it while the agent is creating containers: some exist, some do not, some are not reported yet.
  await waitFor('the deployment to be under way', async () => (await clusterContainers(docker, cluster)).length >= 2, 20_000, 10);
  await first.kill();
  const midway = (await clusterContainers(docker, cluster)).length;
  assert.ok(midway < 10 || midway === 10, `killed with ${midway} containers created`);

  daemon = await first.restart();
  const service = await waitFor('10 running replicas after the restart', async () => {
    const s = (await api(daemon!.url).get('/services/crashy')).body;
    return s.state === 'RUNNING' && s.running === 10 ? s : undefined;
  }, 30_000);
  assert.equal(service.replicas, 10);

  const containers = await clusterContainers(docker, cluster, { 'io.bicycle.service': 'crashy' });
  assert.equal(containers.length, 10, `exactly 10 containers, found ${containers.map((c) => `${c.name}:${c.state}`).join(' ')}`);
  assert.ok(containers.every((c) => c.state === 'running'));
  const slots = containers.map((c) => c.labels['io.bicycle.slot']).sort((a, b) => Number(a) - Number(b));
  assert.deepEqual(slots, ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'], 'one container per slot');
  const tasks = new Set(containers.map((c) => c.labels['io.bicycle.task']));
  assert.equal(tasks.size, 10, 'no task has two containers');
  const services = (await api(daemon.url).get('/services')).body.services;
  assert.deepEqual(services.map((s: any) => s.name), ['crashy']);
});
