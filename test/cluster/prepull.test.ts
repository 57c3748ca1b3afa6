import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { freePort } from '../helpers/daemon';
import { pullsBetween, pushImage, startRegistry, type TestRegistry } from '../../scripts/lab/registry';
import { waitFor } from '../helpers/wait';

// Pre-pull on a real cluster: an image that only a registry on the lab's
// network has (Debian's docker-registry on the machine's leg, trusted by the
// hosts' engines as an insecure registry). Every host pulls a pre-pulled
// service's image when the service is created; when the host running its
// replica is lost, the replica starts on a survivor without a pull, which
// the survivor's own engine event log shows. A service that opts out is the
// control: its moved replica has to pull.

interface PrepullView { service: string; image: string; state: string }
interface NodeView { name: string; prepull: PrepullView[] | null }
interface TaskView { node: string | null; state: string; desiredState: string }

const unix = () => Math.floor(Date.now() / 1000);

async function runningHost(lab: Lab, service: string, among: number[]): Promise<number | undefined> {
  for (const i of among) {
    const list = await lab.host(i).docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } }).catch(() => []);
    if (list.length > 0) return i;
  }
  return undefined;
}

describe('pre-pull on a cluster of three hosts, from a registry on the lab network', () => {
  let lab: Lab;
  let registry: TestRegistry | undefined;
  let hot: string;
  let cold: string;

  before(async () => {
    await requireDocker();
    const subnet = freeSubnet();
    const address = `${subnet}.254:${await freePort()}`;
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-prepull-')), 3, { subnet, engineArgs: ['--insecure-registry', address] });
    await lab.up();
    registry = await startRegistry(address);
    hot = `${address}/bicycle/hot:1`;
    cold = `${address}/bicycle/cold:1`;
    // Pushed from host-1's engine, and removed there: no engine of the lab has either image now.
    await pushImage(lab.host(1).docker, TEST_IMAGE, hot);
    await pushImage(lab.host(1).docker, TEST_IMAGE, cold);
  });
  after(async () => {
    await lab?.down();
    registry?.stop();
  });

  test('every host pulls a pre-pulled service\'s image at creation; a service that opts out is pulled only where it runs', async () => {
    const url = lab.host(1).url;
    // Binpack with nothing reserved fills the node with the most tasks: both single replicas land on the same host.
    for (const [name, image, prepull] of [['hot', hot, true], ['cold', cold, false]] as const) {
      const res = await api(url).post('/services?wait=true&timeout=60', {
        name, image, prepull, replicas: 1, command: ['sleep', '3600'], placement: { strategy: 'binpack' },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    // Each node reports its own pre-pulls in its State (other nodes' entries are null there).
    const ownPrepull = async (i: number) => {
      const nodes = (await api(lab.host(i).url).get('/state')).body.nodes as NodeView[];
      return nodes.find((n) => n.name === lab.host(i).name)?.prepull ?? [];
    };
    await waitFor('hot\'s image pulled on every host, as each host\'s State shows', async () => {
      for (const i of [1, 2, 3]) if (!(await ownPrepull(i)).some((p) => p.service === 'hot' && p.image === hot && p.state === 'done')) return false;
      return true;
    }, 60_000, 250);
    for (const i of [1, 2, 3]) assert.ok(!(await ownPrepull(i)).some((p) => p.service === 'cold'), `cold is not pre-pulled on host-${i}`);
  });

  test('the host running both replicas is lost: hot starts on a survivor without a pull, cold has to pull', async (t) => {
    const home = await runningHost(lab, 'hot', [1, 2, 3]);
    assert.ok(home, 'hot runs somewhere');
    assert.equal(await runningHost(lab, 'cold', [home]), home, 'cold runs beside hot');
    const survivors = [1, 2, 3].filter((i) => i !== home);
    const survivorUrl = lab.host(survivors[0]!).url;

    const lostAt = unix();
    const t0 = Date.now();
    await lab.kill(home);
    const moved: Record<string, { host: number; ms: number }> = {};
    await waitFor('hot and cold running on survivors', async () => {
      for (const name of ['hot', 'cold']) {
        if (moved[name]) continue;
        const tasks = (await api(survivorUrl).get(`/services/${name}`).catch(() => undefined))?.body?.tasks as TaskView[] | undefined;
        if (!tasks?.some((x) => x.desiredState === 'RUNNING' && x.state === 'RUNNING' && x.node !== lab.host(home).name)) continue;
        const host = await runningHost(lab, name, survivors);
        if (host) moved[name] = { host, ms: Date.now() - t0 };
      }
      return Object.keys(moved).length === 2;
    }, 90_000, 100);
    const until = unix() + 1;

    const hotPulls = await pullsBetween(lab.host(moved.hot!.host).docker, lostAt, until);
    const coldPulls = await pullsBetween(lab.host(moved.cold!.host).docker, lostAt, until);
    t.diagnostic(`host-${home} lost; hot running on host-${moved.hot!.host} after ${moved.hot!.ms} ms, pulls there since: ${JSON.stringify(hotPulls)}`);
    t.diagnostic(`cold running on host-${moved.cold!.host} after ${moved.cold!.ms} ms, pulls there since: ${JSON.stringify(coldPulls)}`);
    assert.deepEqual(hotPulls.filter((id) => id.startsWith(hot.slice(0, hot.lastIndexOf(':')))), [], 'no pull of hot\'s image on its new node after the loss');
    assert.ok(coldPulls.some((id) => id.startsWith(cold.slice(0, cold.lastIndexOf(':')))), `cold's new node pulled its image after the loss (pulls: ${JSON.stringify(coldPulls)})`);
  });
});
