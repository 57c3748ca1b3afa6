import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { daemonPath } from '../helpers/daemon';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api, call } from '../helpers/api';
import { waitFor } from '../helpers/wait';

/** Running containers of a service in one host's own engine. */
async function runningOn(lab: Lab, i: number, service: string): Promise<number> {
  const list = await lab.host(i).docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } });
  return list.length;
}

async function leaderOf(lab: Lab, via: number[]): Promise<string | undefined> {
  for (const i of via) {
    const res = await fetch(`${lab.host(i).url}/state`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    if (!res?.ok) continue;
    const state = (await res.json()) as { cluster: { leader: string | null }; nodes: Array<{ name: string; leader: boolean }> };
    if (state.cluster.leader) return state.cluster.leader;
  }
  return undefined;
}

const indexOf = (name: string) => Number(name.replace('host-', ''));

describe('a cluster of three hosts, each with its own engine', () => {
  let lab: Lab;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-')), 3, { subnet: freeSubnet() });
    await lab.up();
  });
  after(async () => {
    await lab?.down();
  });

  test('the hosts form one cluster: three READY managers, one leader, the same state on every host', async () => {
    for (const host of lab.hosts) {
      const nodes = (await api(host.url).get('/nodes')).body.nodes;
      assert.deepEqual(nodes.map((n: any) => `${n.name}:${n.status}:${n.role}`), ['host-1:READY:manager', 'host-2:READY:manager', 'host-3:READY:manager']);
      assert.equal(nodes.filter((n: any) => n.leader).length, 1);
    }
    const ids = await Promise.all(lab.hosts.map(async (h) => (await api(h.url).get('/state')).body.cluster.id));
    assert.equal(new Set(ids).size, 1);
  });

  test('6 replicas run 2 on each host, checked in each host\'s own engine', async () => {
    const res = await api(lab.host(2).url).post('/services?wait=true&timeout=60', { name: 'web', image: TEST_IMAGE, replicas: 6, command: ['sleep', '3600'] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.running, 6);
    for (const i of [1, 2, 3]) assert.equal(await runningOn(lab, i, 'web'), 2, `host-${i} runs 2`);
  });

  test('a host with the wrong token cannot join, and a peer request without the cluster secret is refused', async () => {
    // The intruder runs on host-1's machine (its namespace), beside host-1's bicycled, on another port.
    const dataDir = mkdtempSync(join(tmpdir(), 'bicycle-intruder-'));
    const one = lab.host(1);
    const intruder = await one.exec(
      [process.execPath, daemonPath(), '--name', 'intruder', '--listen', `${one.ip}:${one.port + 1}`, '--data-dir', dataDir, '--docker-socket', one.socket, '--join', one.address, '--token', 'BCT1-00-not-the-token', '--insecure'],
      30_000,
    );
    assert.equal(intruder.code, 1, intruder.stderr);
    assert.match(intruder.stderr, /join token is not valid for this cluster/);
    const nodes = (await api(lab.host(1).url).get('/nodes')).body.nodes;
    assert.ok(!nodes.some((n: any) => n.name === 'intruder'));

    for (const path of ['/cluster/raft', '/cluster/voting']) {
      const bare = await call(lab.host(1).url, 'POST', path, []);
      assert.equal(bare.status, 401, path);
      assert.equal(bare.body.error.code, 'UNAUTHENTICATED');
      const wrong = await call(lab.host(1).url, 'POST', path, [], { authorization: 'Bearer guess' });
      assert.equal(wrong.status, 401, path);
    }
  });

  test('a follower\'s host is lost: its replicas run on the others within 15 s; back, it is READY and its stale containers are gone', async () => {
    const leader = indexOf((await leaderOf(lab, [1, 2, 3]))!);
    const follower = [1, 2, 3].find((i) => i !== leader)!;
    const others = [1, 2, 3].filter((i) => i !== follower);
    await lab.kill(follower);
    const lostAt = Date.now();
    await waitFor('6 replicas on the two other hosts', async () => {
      const counts = await Promise.all(others.map((i) => runningOn(lab, i, 'web')));
      return counts[0]! + counts[1]! === 6 && counts.every((c) => c === 3);
    }, 15_000, 200);
    const movedInMs = Date.now() - lostAt;
    const nodes = (await api(lab.host(others[0]!).url).get('/nodes')).body.nodes;
    assert.equal(nodes.find((n: any) => n.name === `host-${follower}`).status, 'DOWN');
    assert.ok(movedInMs <= 15_000);

    await lab.restart(follower);
    await waitFor(`host-${follower} READY again`, async () => {
      const list = (await api(lab.host(others[0]!).url).get('/nodes')).body.nodes;
      return list.find((n: any) => n.name === `host-${follower}`)?.status === 'READY';
    }, 15_000);
    await waitFor(`host-${follower}'s stale containers to be gone`, async () => {
      const all = await lab.host(follower).docker.listContainers({ all: true, filters: { label: ['io.bicycle.service=web'] } });
      return all.length === 0;
    }, 15_000);
    assert.equal((await runningOn(lab, others[0]!, 'web')) + (await runningOn(lab, others[1]!, 'web')), 6, 'no replica runs twice');
  });

  test('the leader\'s host is lost: a new leader within 3 s, 6 replicas on the survivors within 15 s, writes accepted there', async () => {
    const oldLeader = indexOf((await leaderOf(lab, [1, 2, 3]))!);
    const survivors = [1, 2, 3].filter((i) => i !== oldLeader);
    await lab.kill(oldLeader);
    const lostAt = Date.now();
    const newLeader = await waitFor('a new leader', async () => {
      const l = await leaderOf(lab, survivors);
      return l && l !== `host-${oldLeader}` ? l : undefined;
    }, 3000, 50);
    assert.ok(survivors.includes(indexOf(newLeader)));
    await waitFor('6 replicas on the survivors', async () => {
      const counts = await Promise.all(survivors.map((i) => runningOn(lab, i, 'web')));
      return counts[0]! + counts[1]! === 6;
    }, 15_000 - (Date.now() - lostAt), 200);
    for (const i of survivors) {
      const res = await api(lab.host(i).url).post('/services', { name: `after-failover-${i}`, image: TEST_IMAGE, replicas: 0 });
      assert.equal(res.status, 201, `host-${i} takes writes: ${JSON.stringify(res.body)}`);
    }
    await lab.restart(oldLeader);
    await waitFor(`host-${oldLeader} READY again`, async () => {
      const list = (await api(lab.host(survivors[0]!).url).get('/nodes')).body.nodes;
      return list.find((n: any) => n.name === `host-${oldLeader}`)?.status === 'READY';
    }, 15_000);
    // The returning host sees what was written while it was gone, in a linearizable read, once it knows
    // the new leader (until its first heartbeat it answers such a read 503, as a client would retry).
    let last: unknown;
    await waitFor(`host-${oldLeader} to serve a consistent read with both writes`, async () => {
      const res = await api(lab.host(oldLeader).url).get('/services?consistent=true');
      last = res.body;
      const seen = res.status === 200 ? (res.body.services as Array<{ name: string }>).map((s) => s.name) : [];
      return survivors.every((i) => seen.includes(`after-failover-${i}`));
    }, 10_000, 100).catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(last)}`));
  });

  test('a leader stopped gracefully hands leadership over before it goes', async () => {
    // The leader as it says so itself (another host's view may lag behind a change).
    const leader = await waitFor('a host that says it leads', async () => {
      for (const i of [1, 2, 3]) if ((await leaderOf(lab, [i])) === `host-${i}`) return i;
      return undefined;
    }, 5000, 100);
    const others = [1, 2, 3].filter((i) => i !== leader);
    await lab.stopDaemon(leader);
    const output = lab.output(leader);
    if (!/handed leadership over/.test(output)) await lab.startDaemon(lab.host(leader)); // leave the cluster whole for the next tests
    assert.match(output, /handed leadership over/);
    const next = await waitFor('the new leader', async () => {
      const l = await leaderOf(lab, others);
      return l && l !== `host-${leader}` ? l : undefined;
    }, 3000, 50);
    assert.ok(others.includes(indexOf(next)));
    await lab.startDaemon(lab.host(leader));
    await waitFor(`host-${leader} READY again`, async () => {
      const list = (await api(lab.host(others[0]!).url).get('/nodes')).body.nodes;
      return list.find((n: any) => n.name === `host-${leader}`)?.status === 'READY';
    }, 15_000);
  });

  test('drain moves all of a node\'s replicas away; activate and rebalance bring replicas back', async () => {
    const url = lab.host(1).url;
    await api(url).post('/rebalance');
    await waitFor('web spread 2/2/2', async () => (await Promise.all([1, 2, 3].map((i) => runningOn(lab, i, 'web')))).every((c) => c === 2), 30_000, 250);

    const drained = await api(url).patch('/nodes/host-3', { availability: 'drain' });
    assert.equal(drained.status, 200);
    assert.equal(drained.body.availability, 'drain');
    await waitFor('host-3 empty and 6 running on host-1 and host-2', async () => {
      const counts = await Promise.all([1, 2, 3].map((i) => runningOn(lab, i, 'web')));
      return counts[2] === 0 && counts[0]! + counts[1]! === 6;
    }, 20_000, 200);

    assert.equal((await api(url).patch('/nodes/host-3', { availability: 'active' })).status, 200);
    assert.equal((await api(url).post('/services/web/rebalance')).status, 202);
    await waitFor('replicas back on host-3', async () => (await Promise.all([1, 2, 3].map((i) => runningOn(lab, i, 'web')))).every((c) => c === 2), 30_000, 250);
    await waitFor('the rebalance to be done', async () => (await api(url).get('/services/web')).body.rebalancing === false, 10_000);
  });

  test('while a client writes through every host, hosts are killed and restarted in turn: every acknowledged write is kept everywhere', async () => {
    const acknowledged: string[] = [];
    let stop = false;
    let n = 0;
    const writer = (async () => {
      while (!stop) {
        const i = (n % 3) + 1;
        const name = `w-${n++}`;
        const res = await api(lab.host(i).url).post('/services', { name, image: TEST_IMAGE, replicas: n % 4 === 0 ? 1 : 0, command: ['sleep', '3600'] }).catch(() => undefined);
        if (res?.status === 201) acknowledged.push(name);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    for (const victim of [2, 3, 1]) {
      await lab.kill(victim);
      await new Promise((r) => setTimeout(r, 4000));
      await lab.restart(victim);
      await new Promise((r) => setTimeout(r, 2000));
    }
    stop = true;
    await writer;
    assert.ok(acknowledged.length > 20, `enough writes were acknowledged (${acknowledged.length} of ${n})`);

    for (const i of [1, 2, 3]) {
      const names = await waitFor(`host-${i} to hold every acknowledged write`, async () => {
        const res = await api(lab.host(i).url).get('/services?consistent=true');
        if (res.status !== 200) return undefined;
        const have = new Set(res.body.services.map((s: any) => s.name));
        return acknowledged.every((a) => have.has(a)) ? have : undefined;
      }, 20_000, 250);
      assert.ok(names.size >= acknowledged.length);
    }
    // The engines run exactly what the specs ask for, once each.
    const services = (await api(lab.host(1).url).get('/services?consistent=true')).body.services as Array<{ name: string; replicas: number }>;
    const wanted = services.reduce((sum, s) => sum + s.replicas, 0);
    await waitFor('the engines to run what the specs ask', async () => {
      let total = 0;
      for (const i of [1, 2, 3]) total += (await lab.host(i).docker.listContainers({ filters: { label: ['io.bicycle.task'], status: ['running'] } })).length;
      return total === wanted;
    }, 30_000, 250);
  });
});
