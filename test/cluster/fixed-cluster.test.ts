import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api, call } from '../helpers/api';
import { waitFor } from '../helpers/wait';

let lab: Lab;

before(async () => {
  await requireDocker();
  lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-fixed-')), 3, { subnet: freeSubnet() });
  await lab.upFixed('a-shared-secret-for-the-fixed-lab', [3]);
});
after(async () => {
  await lab?.down();
});

test('a fixed cluster listed in every host\'s configuration elects a leader among its managers, runs tasks on its worker too, and keeps its secret', async () => {
  const nodes = await waitFor('three READY nodes, one leader', async () => {
    const list = (await api(lab.host(3).url).get('/nodes')).body.nodes;
    return list.length === 3 && list.every((n: any) => n.status === 'READY') && list.filter((n: any) => n.leader).length === 1 ? list : undefined;
  }, 15_000);
  assert.deepEqual(nodes.map((n: any) => `${n.id}=${n.name}:${n.role}`), ['host-1=host-1:manager', 'host-2=host-2:manager', 'host-3=host-3:worker'], 'node ids are the names');
  assert.ok(nodes.find((n: any) => n.leader).role === 'manager', 'a worker never leads');
  const state = (await api(lab.host(1).url).get('/state')).body;
  assert.deepEqual(state.cluster.warnings, ['2 managers: losing one stops the cluster (no majority); run 3 or 5'], 'two managers are warned about');
  assert.ok(state.nodes.every((n: any) => typeof n.lastSeenAt === 'string'));

  const res = await api(lab.host(1).url).post('/services?wait=true&timeout=60', { name: 'fixed', image: TEST_IMAGE, replicas: 3, command: ['sleep', '3600'] });
  assert.equal(res.status, 201);
  assert.deepEqual(res.body.tasks.map((t: any) => t.node).sort(), ['host-1', 'host-2', 'host-3']);
  for (const host of lab.hosts) {
    const running = await host.docker.listContainers({ filters: { label: ['io.bicycle.service=fixed'] } });
    assert.equal(running.length, 1, `${host.name} runs one`);
  }

  const refused = await call(lab.host(2).url, 'POST', '/cluster/raft', [], { authorization: 'Bearer not-the-secret' });
  assert.equal(refused.status, 401);
});
