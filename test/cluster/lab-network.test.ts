import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab, type LabHost } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

// The lab as a network: each host its own namespace on the lab's bridge, this
// machine on its leg, partitions as rules inside the hosts' namespaces.

/** The local address a TCP connection from this machine's namespace to ip:port leaves from, or undefined when it does not open. */
function localAddressTo(ip: string, port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port, timeout: timeoutMs });
    socket.on('connect', () => {
      resolve(socket.localAddress);
      socket.destroy();
    });
    socket.on('timeout', () => (socket.destroy(), resolve(undefined)));
    socket.on('error', () => resolve(undefined));
  });
}

/**
 * Whether any of 10 UDP datagrams sent from `from`'s namespace over `spanMs`
 * reaches a listener in `to`'s namespace: one direction of the link, which a
 * TCP connection (it needs both) cannot show on its own.
 */
async function delivers(from: LabHost, to: LabHost, port = 9999, spanMs = 1000): Promise<boolean> {
  const listener = to.spawn(
    [process.execPath, '-e', `const s = require('node:dgram').createSocket('udp4');
s.on('message', () => process.exit(0));
s.bind(${port}, ${JSON.stringify(to.ip)}, () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(1), ${spanMs + 10_000});`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => listener.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    listener.stdout!.on('data', () => resolve());
    void exited.then((code) => reject(new Error(`the UDP listener in ${to.name} exited (${code}) before it was ready`)));
  });
  const sent = await from.exec([process.execPath, '-e', `const s = require('node:dgram').createSocket('udp4');
let n = 0;
const t = setInterval(() => { s.send('x', ${port}, ${JSON.stringify(to.ip)}); if (++n === 10) { clearInterval(t); setTimeout(() => s.close(), 100); } }, ${spanMs / 10});`]);
  assert.equal(sent.code, 0, `sending from ${from.name}: ${sent.stderr}`);
  // The last datagram left 100 ms before the sender ended: one that has not arrived 500 ms later was dropped.
  const late = setTimeout(() => listener.kill('SIGKILL'), 500);
  const code = await exited;
  clearTimeout(late);
  return code === 0;
}

async function leaderSeenBy(lab: Lab, i: number): Promise<string | null | undefined> {
  const res = await fetch(`${lab.host(i).url}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
  return res?.ok ? ((await res.json()) as { leader: string | null }).leader : undefined;
}

async function runningOn(lab: Lab, i: number, service: string): Promise<number> {
  return (await lab.host(i).docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } })).length;
}

/** What a host holds of the services, read after everything committed before (names, versions, replica counts). */
async function servicesOn(lab: Lab, i: number): Promise<string[]> {
  const res = await api(lab.host(i).url).get('/services?consistent=true');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body.services as Array<{ name: string; version: number; replicas: number }>).map((s) => `${s.name}@${s.version}x${s.replicas}`).sort();
}

describe('the lab as a network of three hosts', () => {
  let lab: Lab;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-net-')), 3, { subnet: freeSubnet() });
    await lab.up();
  });
  after(async () => {
    await lab?.down();
  });

  test('this machine reaches every host from the leg; each host reaches the others\' REST API over the lab network; a host\'s loopback is its own', async () => {
    for (const host of lab.hosts) {
      assert.equal(host.ip, `${lab.subnet}.${host.index}`);
      assert.equal(await localAddressTo(host.ip, host.port), lab.clientAddress, `${host.name} is reached from ${lab.clientAddress}`);
    }
    for (const [from, to] of [[1, 2], [2, 3], [3, 1]] as const) {
      // With the lab's admin token: off loopback every API request needs one.
      const res = await lab.host(from).exec(['busybox', 'wget', '-q', '-O', '-', '--header', `Authorization: Bearer ${lab.adminToken}`, `${lab.host(to).url}/nodes`], 10_000);
      assert.equal(res.code, 0, `host-${from} → host-${to}: ${res.stderr}`);
      assert.equal(JSON.parse(res.stdout).nodes.length, 3);
    }
    // Each namespace has a loopback of its own: host-2's bicycled serves local administration on it, this machine's has nothing there.
    assert.equal(await lab.host(2).reaches(`127.0.0.1:${lab.port}`), true, 'host-2\'s bicycled answers on host-2\'s own loopback');
    assert.equal(await localAddressTo('127.0.0.1', lab.port, 1000), undefined, 'nothing of the lab listens on this machine\'s loopback');
    assert.equal(await lab.host(2).reaches(lab.host(2).address), true, 'host-2\'s bicycled is on its eth0');
  });

  test('a listener started in a host\'s namespace is reached at that host\'s address, from this machine and from another host', async () => {
    const listener = lab.host(1).spawn(['busybox', 'nc', '-ll', '-p', '8080', '-e', 'cat'], { stdio: 'ignore' });
    try {
      await waitFor('the listener on host-1:8080', () => localAddressTo(lab.host(1).ip, 8080), 5000);
      assert.equal(await lab.host(3).reaches(`${lab.host(1).ip}:8080`), true);
      assert.equal(await lab.host(3).reaches(`${lab.host(2).ip}:8080`), false, 'not on host-2');
    } finally {
      listener.kill('SIGKILL');
    }
  });

  test('a one-way partition drops host-1\'s packets to host-2 and lets host-2\'s reach host-1; heal restores both', async () => {
    assert.equal(await delivers(lab.host(1), lab.host(2)), true, 'before: host-1 → host-2');
    await lab.partition(1, 2, { oneWay: true });
    try {
      assert.equal(await delivers(lab.host(1), lab.host(2)), false, 'host-1 → host-2 is dropped');
      assert.equal(await delivers(lab.host(2), lab.host(1)), true, 'host-2 → host-1 still arrives');
      // TCP needs both directions: neither side opens a connection.
      assert.equal(await lab.host(1).reaches(lab.host(2).address), false);
      assert.equal(await lab.host(2).reaches(lab.host(1).address), false);
      // Nothing else is cut: host-3 and this machine reach both.
      for (const i of [1, 2]) {
        assert.equal(await lab.host(3).reaches(lab.host(i).address), true, `host-3 → host-${i}`);
        assert.equal(await localAddressTo(lab.host(i).ip, lab.port), lab.clientAddress, `this machine → host-${i}`);
      }
    } finally {
      await lab.heal();
    }
    assert.equal(await delivers(lab.host(1), lab.host(2)), true, 'healed: host-1 → host-2');
    assert.equal(await lab.host(1).reaches(lab.host(2).address), true);
  });

  test('the leader cut off from both followers: they elect a new leader and take over its replica; healed, it follows with the same state', async () => {
    const created = await api(lab.host(1).url).post('/services?wait=true&timeout=60', { name: 'web', image: TEST_IMAGE, replicas: 3, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await lab.settled();
    const oldLeaderName = (await waitFor('a leader', () => leaderSeenBy(lab, 1), 5000))!;
    const oldLeader = Number(oldLeaderName.replace('host-', ''));
    const others = [1, 2, 3].filter((i) => i !== oldLeader);
    assert.equal(await runningOn(lab, oldLeader, 'web'), 1);

    for (const i of others) await lab.partition(oldLeader, i);
    try {
      const newLeader = await waitFor('a new leader among the others', async () => {
        const seen = await Promise.all(others.map((i) => leaderSeenBy(lab, i)));
        return seen[0] && seen[0] === seen[1] && seen[0] !== oldLeaderName ? seen[0] : undefined;
      }, 5000, 50);
      assert.ok(others.map((i) => `host-${i}`).includes(newLeader));
      // Check-quorum: the old leader, hearing from no majority, steps down instead of leading alone.
      await waitFor(`host-${oldLeader} to step down`, async () => (await leaderSeenBy(lab, oldLeader)) !== oldLeaderName, 3000, 50);
      const written = await api(lab.host(others[0]!).url).post('/services', { name: 'while-cut-off', image: TEST_IMAGE, replicas: 0 });
      assert.equal(written.status, 201, JSON.stringify(written.body));
      await waitFor('web\'s 3 replicas on the majority side', async () => {
        const counts = await Promise.all(others.map((i) => runningOn(lab, i, 'web')));
        return counts[0]! + counts[1]! === 3;
      }, 20_000, 200);
    } finally {
      await lab.heal();
    }

    const leaderNow = await waitFor(`host-${oldLeader} to follow a leader among the others`, async () => {
      const seen = await Promise.all([1, 2, 3].map((i) => leaderSeenBy(lab, i)));
      return seen.every((l) => l && l === seen[0]) && seen[0] !== oldLeaderName ? seen[0] : undefined;
    }, 10_000, 100);
    assert.ok(others.map((i) => `host-${i}`).includes(leaderNow!));
    await lab.settled();
    const expected = await servicesOn(lab, others[0]!);
    assert.ok(expected.some((s) => s.startsWith('while-cut-off@')));
    assert.deepEqual(await servicesOn(lab, oldLeader), expected, 'the old leader holds what was written while it was cut off');
    await waitFor(`host-${oldLeader}'s replaced container to be gone, 3 replicas in all`, async () => {
      const all = await lab.host(oldLeader).docker.listContainers({ all: true, filters: { label: ['io.bicycle.service=web'] } });
      const counts = await Promise.all([1, 2, 3].map((i) => runningOn(lab, i, 'web')));
      return all.length === 0 && counts.reduce((a, b) => a + b, 0) === 3;
    }, 20_000, 200);
  });
});
