import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';
import { SimAgents } from '../helpers/sim-agents';

const WORKERS = 200;
const SERVICES = 4;
const REPLICAS = 5_000;
const TASKS = SERVICES * REPLICAS;
const LOST = 20;

interface NodeView {
  id: string;
  name: string;
  role: string;
  status: string;
  link: string;
  tasks: number;
}

// The CI-sized scale run (docs/scale.md): three real bicycled managers on
// the lab's network, 200 simulated workers on worker sessions (no Docker:
// they join, ask for their tasks and report them RUNNING through the same
// node-to-node API a worker uses), 20,000 tasks.
describe('three managers and 200 session workers run 20,000 tasks', () => {
  let lab: Lab;
  let agents: SimAgents;
  const nodes = async (i = 1) => ((await api(lab.host(i).url).get('/nodes')).body.nodes as NodeView[]);
  const running = async (i = 1) => ((await api(lab.host(i).url).get('/services')).body.services as Array<{ running: number }>).reduce((sum, s) => sum + s.running, 0);

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-scale-')), 4, { subnet: freeSubnet() });
    for (const host of lab.hosts) {
      mkdirSync(host.dir, { recursive: true });
      // Snapshots every 100 entries: the late manager finds the log compacted.
      writeFileSync(join(host.dir, 'bicycle-config.json'), JSON.stringify({
        deployment: { concurrency: 8, updateParallelism: 2, resyncIntervalMs: 2000, stopGracePeriodMs: 2000, init: true, autoRebalance: false },
        monitoring: { statsIntervalMs: 2000 },
        voting: { snapshotEveryEntries: 100 },
      }));
    }
    await lab.up(3);
    // The managers run nothing: every task goes to the session workers.
    for (const n of await nodes()) assert.equal((await api(lab.host(1).url).patch(`/nodes/${n.id}`, { availability: 'drain' })).status, 200);
    agents = new SimAgents({ managers: [1, 2, 3].map((i) => lab.host(i).url), token: await lab.joinToken(), count: WORKERS });
    await agents.join();
    agents.start();
  });
  after(async () => {
    await agents?.stop();
    await lab?.down();
  });

  test('every task runs, spread evenly over the workers, none on the managers', async () => {
    const listed = await nodes();
    const workers = listed.filter((n) => n.link === 'session');
    assert.equal(workers.length, WORKERS, 'every simulated worker is a member');
    assert.ok(workers.every((n) => n.role === 'worker' && n.status === 'READY'));
    for (let s = 0; s < SERVICES; s++) {
      const created = await api(lab.host(1 + (s % 3)).url).post('/services', { name: `load-${s}`, image: TEST_IMAGE, replicas: REPLICAS, command: ['sleep', '3600'] });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    await waitFor(`all ${TASKS} tasks RUNNING`, async () => (await running()) === TASKS, 240_000, 1000);
    const after = await nodes();
    for (const n of after) {
      if (n.link === 'session') assert.equal(n.tasks, TASKS / WORKERS, `${n.name} runs ${n.tasks} tasks`);
      else assert.equal(n.tasks, 0, `manager ${n.name} runs nothing`);
    }
  });

  test('losing 20 workers at once moves their tasks to the others', async () => {
    const lost = agents.ids.slice(0, LOST);
    await agents.stop(lost);
    await waitFor(`the ${LOST} lost workers DOWN and their tasks RUNNING elsewhere`, async () => {
      const listed = await nodes();
      const gone = listed.filter((n) => lost.includes(n.id));
      return gone.every((n) => n.status === 'DOWN' && n.tasks === 0) && (await running()) === TASKS;
    }, 240_000, 1000);
    const survivors = (await nodes()).filter((n) => n.link === 'session' && !lost.includes(n.id));
    assert.deepEqual(survivors.filter((n) => n.status !== 'READY').map((n) => n.name), [], 'no worker still heartbeating was taken for lost');
    const left = survivors.map((n) => n.tasks);
    assert.equal(left.reduce((a, b) => a + b, 0), TASKS);
    // Spread per service: each worker is at most one replica of each service from any other.
    assert.ok(Math.max(...left) - Math.min(...left) <= SERVICES, `the survivors run ${Math.min(...left)}–${Math.max(...left)} tasks each`);
  });

  test('a manager joining late catches up from a chunked snapshot and serves the same State', async () => {
    await lab.join(4);
    const summary = async (i: number) => {
      const state = (await api(lab.host(i).url).get('/state?limit=0&consistent=true')).body;
      const services = ((await api(lab.host(i).url).get('/services?consistent=true')).body.services as Array<{ name: string; running: number; replicas: number }>).map((s) => `${s.name}:${s.running}/${s.replicas}`);
      const byStatus = (state.nodes as NodeView[]).map((n) => `${n.name}:${n.status}`).sort();
      return { services, counts: state.containerCounts, byStatus };
    };
    const onHost4 = await waitFor('host-4 to serve the same State as host-1', async () => {
      const [mine, theirs] = await Promise.all([summary(4).catch(() => undefined), summary(1)]);
      return mine && JSON.stringify(mine) === JSON.stringify(theirs) ? mine : undefined;
    }, 120_000, 1000);
    assert.equal(onHost4.counts.total, TASKS);
    const sent = /sent a snapshot in chunks.*\bbytes["=:]+(\d+)/.exec(lab.output(1) + lab.output(2) + lab.output(3));
    assert.ok(sent, 'the leader logs the snapshot it sent');
    assert.ok(Number(sent[1]) > 512 * 1024, `the snapshot (${sent[1]} bytes) took more than one chunk`);
  });
});
