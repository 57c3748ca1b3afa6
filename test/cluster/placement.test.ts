import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

// Placement on a real cluster: labels set through the API, replicas counted
// in each host's own engine, reasons read where a user reads them.

/** Running containers of a service in one host's own engine. */
async function runningOn(lab: Lab, i: number, service: string): Promise<number> {
  const list = await lab.host(i).docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } });
  return list.length;
}

async function runningPerHost(lab: Lab, service: string, hosts = [1, 2, 3]): Promise<number[]> {
  return Promise.all(hosts.map((i) => runningOn(lab, i, service)));
}

interface TaskView { name: string; node: string | null; state: string; desiredState: string; error: string | null }

async function tasksOf(url: string, service: string): Promise<TaskView[]> {
  const res = await api(url).get(`/services/${service}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.tasks as TaskView[];
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('placement on a cluster of three hosts labelled zone a, a, b (and a fourth that joins later)', () => {
  let lab: Lab;
  let url: string;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-place-')), 4, { subnet: freeSubnet() });
    await lab.up(3);
    url = lab.host(1).url;
    for (const [name, zone] of [['host-1', 'a'], ['host-2', 'a'], ['host-3', 'b']] as const) {
      const res = await api(url).patch(`/nodes/${name}`, { labelAdd: { zone } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
  });
  after(async () => {
    await lab?.down();
  });

  test('the labels are on every host\'s view of the nodes', async () => {
    await waitFor('host-3 to see the labels', async () => {
      const nodes = (await api(lab.host(3).url).get('/nodes')).body.nodes as Array<{ name: string; labels: Record<string, string> }>;
      return nodes.map((n) => `${n.name}:${n.labels.zone}`).sort().join(' ') === 'host-1:a host-2:a host-3:b';
    }, 5000);
  });

  test('9 replicas spread over zone: 5 and 4 per zone, not 3 per host', async () => {
    const res = await api(url).post('/services?wait=true&timeout=60', {
      name: 'zoned', image: TEST_IMAGE, replicas: 9, command: ['sleep', '3600'], placement: { preferences: [{ spread: 'node.labels.zone' }] },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const [h1, h2, h3] = await runningPerHost(lab, 'zoned');
    assert.deepEqual([h1! + h2!, h3!].sort(), [4, 5], `zone a ran ${h1! + h2!}, zone b ran ${h3}`);
    assert.ok(Math.abs(h1! - h2!) <= 1, `within zone a the spread is even: ${h1}/${h2}`);
  });

  test('a constraint node.labels.zone==b puts both replicas on host-3', async () => {
    const res = await api(url).post('/services?wait=true&timeout=60', {
      name: 'only-b', image: TEST_IMAGE, replicas: 2, command: ['sleep', '3600'], placement: { constraints: ['node.labels.zone==b'] },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(await runningPerHost(lab, 'only-b'), [0, 0, 2]);
  });

  test('a reservation larger than any node stays pending, with the reason in the service\'s tasks', async () => {
    const res = await api(url).post('/services', {
      name: 'huge', image: TEST_IMAGE, replicas: 1, command: ['sleep', '3600'], resources: { reservations: { cpus: 1000 } },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const pending = await waitFor('a reason for the pending replica', async () => {
      const task = (await tasksOf(url, 'huge')).find((t) => t.desiredState === 'RUNNING');
      return task?.error ? task : undefined;
    }, 10_000);
    assert.equal(pending.node, null);
    assert.match(pending.error!, /^no node fits: 3 lacks? 1000 CPUs/, pending.error!);
    assert.equal(sum(await runningPerHost(lab, 'huge')), 0);
  });

  test('a memory reservation larger than any node\'s memory stays pending, with the reason', async () => {
    const res = await api(url).post('/services', {
      name: 'hungry', image: TEST_IMAGE, replicas: 1, command: ['sleep', '3600'], resources: { reservations: { memory: '1024G' } },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const pending = await waitFor('a reason for the pending replica', async () => {
      const task = (await tasksOf(url, 'hungry')).find((t) => t.desiredState === 'RUNNING');
      return task?.error ? task : undefined;
    }, 10_000);
    assert.equal(pending.node, null);
    assert.match(pending.error!, /^no node fits: 3 lack 1024 GiB of memory free/, pending.error!);
    assert.equal(sum(await runningPerHost(lab, 'hungry')), 0);
  });

  test('a global service runs one replica per node, leaves a drained node and comes back when it is activated', async () => {
    const res = await api(url).post('/services?wait=true&timeout=60', { name: 'everywhere', image: TEST_IMAGE, mode: 'global', command: ['sleep', '3600'] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(await runningPerHost(lab, 'everywhere'), [1, 1, 1]);

    assert.equal((await api(url).patch('/nodes/host-2', { availability: 'drain' })).status, 200);
    await waitFor('the global replica and the zoned ones to leave host-2', async () =>
      (await runningOn(lab, 2, 'everywhere')) === 0 && (await runningOn(lab, 2, 'zoned')) === 0, 20_000, 200);
    assert.deepEqual(await runningPerHost(lab, 'everywhere'), [1, 0, 1]);
    // Zone a still has host-1: the spread over zones holds with one node less.
    await waitFor('9 zoned replicas, 5/4 over the zones, on host-1 and host-3', async () => {
      const [h1, h2, h3] = await runningPerHost(lab, 'zoned');
      return h2 === 0 && [h1!, h3!].sort().join('/') === '4/5';
    }, 20_000, 200);

    assert.equal((await api(url).patch('/nodes/host-2', { availability: 'active' })).status, 200);
    await waitFor('the global replica back on host-2', async () => (await runningPerHost(lab, 'everywhere')).join() === '1,1,1', 20_000, 200);
  });

  test('host-3, the only node of zone b, is lost: only-b waits with the reason, its other services move, a global service does not', async () => {
    await lab.kill(3);
    const survivor = lab.host(1).url;
    const reasons = await waitFor('only-b\'s replicas pending with a reason', async () => {
      const live = (await tasksOf(survivor, 'only-b').catch(() => [])).filter((t) => t.desiredState === 'RUNNING');
      return live.length === 2 && live.every((t) => t.node === null && t.error) ? live.map((t) => t.error!) : undefined;
    }, 30_000, 250);
    for (const reason of reasons) assert.match(reason, /^no node fits: .*fails? node\.labels\.zone==b/, reason);
    // The zoned service is not bound to zone b: all 9 run in zone a.
    await waitFor('9 zoned replicas on host-1 and host-2', async () => sum(await runningPerHost(lab, 'zoned', [1, 2])) === 9, 30_000, 250);
    // The global service keeps one per live node and does not double up on the survivors.
    assert.deepEqual(await runningPerHost(lab, 'everywhere', [1, 2]), [1, 1]);
    assert.equal(sum(await runningPerHost(lab, 'only-b', [1, 2])), 0, 'no only-b replica ran outside zone b');
  });

  test('a fourth host joins: the global service gains a replica there; labelled zone b it takes only-b\'s waiting replicas; drained it loses both', async () => {
    await lab.join(4);
    const survivor = lab.host(1).url;
    await waitFor('the global replica on host-4', async () => (await runningOn(lab, 4, 'everywhere')) === 1, 30_000, 250);
    assert.deepEqual(await runningPerHost(lab, 'everywhere', [1, 2, 4]), [1, 1, 1]);
    assert.equal(await runningOn(lab, 4, 'only-b'), 0, 'host-4 has no zone label yet');

    assert.equal((await api(survivor).patch('/nodes/host-4', { labelAdd: { zone: 'b' } })).status, 200);
    await waitFor('only-b\'s two replicas on host-4, the node of zone b', async () => (await runningOn(lab, 4, 'only-b')) === 2, 30_000, 250);

    assert.equal((await api(survivor).patch('/nodes/host-4', { availability: 'drain' })).status, 200);
    await waitFor('host-4 emptied', async () => (await runningOn(lab, 4, 'everywhere')) + (await runningOn(lab, 4, 'only-b')) === 0, 30_000, 250);
    const live = (await tasksOf(survivor, 'only-b')).filter((t) => t.desiredState === 'RUNNING');
    assert.equal(live.length, 2);
    assert.ok(live.every((t) => t.node === null && t.error), `only-b waits again: ${JSON.stringify(live)}`);
    assert.deepEqual(await runningPerHost(lab, 'everywhere', [1, 2, 4]), [1, 1, 0]);
  });
});
