import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

// A throwaway member: host-3 runs --store memory, so a restart brings it back
// as a new node through its join token, in the place of the one it was.

interface NodeView { id: string; name: string; status: string }

async function nodes(url: string): Promise<NodeView[]> {
  return ((await api(url).get('/nodes')).body as { nodes: NodeView[] }).nodes;
}

/** Running containers of a service in each host's own engine. */
async function runningPerHost(lab: Lab, service: string): Promise<number[]> {
  return Promise.all([1, 2, 3].map(async (i) => (await lab.host(i).docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } })).length));
}

describe('a memory-store member of a three-host cluster', () => {
  let lab: Lab;
  let url: string;
  let token: string;
  let firstId: string;
  const startHost3 = () => lab.startDaemon(lab.host(3), { join: lab.host(1).address, token }, ['--store', 'memory']);

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-store-')), 3, { subnet: freeSubnet() });
    await lab.up(2);
    url = lab.host(1).url;
    token = await lab.joinToken();
    await startHost3();
    await lab.settled();
  });
  after(async () => {
    // Stopped first, so that it removes its RAM directory (a killed memory node leaves it to its next start).
    await lab?.stopDaemon(3).catch(() => undefined);
    await lab?.down();
  });

  test('joins, says it is a memory node, and gets its share of the replicas', async () => {
    const health = (await api(lab.host(3).url).get('/healthz')).body as { nodeId: string; store: string };
    assert.equal(health.store, 'memory');
    firstId = health.nodeId;
    assert.equal((await api(lab.host(1).url).get('/healthz')).body.store, 'persisted');
    const res = await api(url).post('/services?wait=true&timeout=60', { name: 'spread', image: TEST_IMAGE, replicas: 6, command: ['sleep', '3600'] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(await runningPerHost(lab, 'spread'), [2, 2, 2]);
  });

  test('killed and started again at once, it joins as a new node in the old one\'s place, and the replicas spread again', async () => {
    lab.signalDaemon(3, 'SIGKILL');
    // Started again at once: its join waits (503, retried) until the leader has marked the old host-3 lost.
    await startHost3();
    const health = (await api(lab.host(3).url).get('/healthz')).body as { nodeId: string; store: string };
    assert.equal(health.store, 'memory');
    assert.notEqual(health.nodeId, firstId, 'a new node id');
    await lab.settled();
    const leaders = lab.output(1) + lab.output(2);
    assert.match(leaders, /node lost .*status=DOWN target=host-3/, 'the old host-3 was lost, as any host is');
    assert.match(leaders, new RegExp(`a memory node takes the place of its lost predecessor .*previous=${firstId}`));
    const members = await nodes(url);
    assert.deepEqual(members.map((n) => n.name).sort(), ['host-1', 'host-2', 'host-3']);
    assert.equal(members.find((n) => n.name === 'host-3')?.id, health.nodeId);
    assert.equal(members.some((n) => n.id === firstId), false, 'the old host-3 is removed');
    // The killed node's containers are nobody's: the new start removes them from host-3's engine.
    await waitFor('the old host-3\'s containers removed', async () => (await lab.host(3).docker.listContainers({ all: true, filters: { label: [`io.bicycle.node=${firstId}`] } })).length === 0, 20_000);
    const res = await api(url).post('/services/spread/rebalance');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await waitFor('the replicas spread over the three hosts again', async () => (await runningPerHost(lab, 'spread')).join(',') === '2,2,2', 60_000);
  });
});
