import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { runCli as runCliOn, type CliResult } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

// Links cut on demand (bicycled --debug-links, docs/voting.md, "Cutting links
// on demand") on a 3-host lab: a leader cut off from both followers with
// `bicycle debug link cut` meets the fate test/cluster/lab-network.test.ts
// gives one cut off by the lab's network rules; `up` heals it; a one-way cut,
// either end, shows in who the leader thinks is lost; a restart brings every
// link back.

async function leaderSeenBy(lab: Lab, i: number): Promise<string | null | undefined> {
  const res = await fetch(`${lab.host(i).url}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
  return res?.ok ? ((await res.json()) as { leader: string | null }).leader : undefined;
}

/** What a host holds of the services, read after everything committed before. */
async function servicesOn(lab: Lab, i: number): Promise<string[]> {
  const res = await api(lab.host(i).url).get('/services?consistent=true');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body.services as Array<{ name: string }>).map((s) => s.name).sort();
}

async function statusOf(lab: Lab, on: number, name: string): Promise<string | undefined> {
  const res = await api(lab.host(on).url).get('/nodes');
  return (res.body.nodes as Array<{ name: string; status: string }> | undefined)?.find((n) => n.name === name)?.status;
}

/** Every host names the same leader; that leader's name. */
async function agreedLeader(lab: Lab): Promise<string | undefined> {
  const seen = await Promise.all(lab.hosts.map((h) => leaderSeenBy(lab, h.index)));
  return seen.every((l) => l && l === seen[0]) ? seen[0]! : undefined;
}

const hostIndex = (name: string) => Number(name.replace('host-', ''));

/** Once on a lab in clear HTTP (peers named by the addresses they send), once over mutual TLS (peers named by their certificates). */
for (const tls of [false, true]) describe(`links cut on demand between three lab hosts (${tls ? 'mutual TLS' : 'clear HTTP'})`, () => {
  let lab: Lab;
  const debugLinksBefore = process.env.BICYCLE_DEBUG_LINKS;
  // Over TLS the CLI trusts the lab's CA.
  const runCli = (host: string, ...args: string[]): Promise<CliResult> => runCliOn(host, ...(tls ? ['--ca', lab.caFile] : []), ...args);

  before(async () => {
    await requireDocker();
    // Every bicycled the lab starts inherits this process's environment: all of them run with --debug-links.
    process.env.BICYCLE_DEBUG_LINKS = 'true';
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-links-')), 3, { subnet: freeSubnet(), tls });
    await lab.up();
  });
  after(async () => {
    await lab?.down();
    if (debugLinksBefore === undefined) delete process.env.BICYCLE_DEBUG_LINKS;
    else process.env.BICYCLE_DEBUG_LINKS = debugLinksBefore;
  });

  test('the leader cut off from both followers with `bicycle debug link cut`: they elect a new leader and take writes, it acknowledges none; up, it follows with the same state', async () => {
    const oldLeaderName = (await waitFor('a leader every host agrees on', () => agreedLeader(lab), 10_000))!;
    const oldLeader = hostIndex(oldLeaderName);
    const others = [1, 2, 3].filter((i) => i !== oldLeader);
    for (const i of others) {
      const cut = await runCli(lab.host(oldLeader).url, 'debug', 'link', 'cut', `host-${i}`);
      assert.equal(cut.code, 0, cut.stderr);
      assert.match(cut.stdout, new RegExp(`host-${i}\\s+${lab.host(i).address.replace(/\./g, '\\.')}\\s+both`));
    }
    const listed = await api(lab.host(oldLeader).url).get('/debug/links');
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.links.map((l: { name: string; address: string; direction: string }) => `${l.name} ${l.address} ${l.direction}`).sort(), others.map((i) => `host-${i} ${lab.host(i).address} both`));
    for (const link of listed.body.links) assert.ok(!Number.isNaN(Date.parse(link.since)), link.since);
    assert.deepEqual((await api(lab.host(others[0]!).url).get('/debug/links')).body, { links: [] }, 'a cut is the cutting node\'s own: its peers list none');

    const newLeader = await waitFor('a new leader among the others', async () => {
      const seen = await Promise.all(others.map((i) => leaderSeenBy(lab, i)));
      return seen[0] && seen[0] === seen[1] && seen[0] !== oldLeaderName ? seen[0] : undefined;
    }, 10_000, 50);
    assert.ok(others.map((i) => `host-${i}`).includes(newLeader!));
    // Check-quorum, as under the lab's network rules: hearing from no majority, the old leader steps down.
    await waitFor(`host-${oldLeader} to step down`, async () => (await leaderSeenBy(lab, oldLeader)) !== oldLeaderName, 5000, 50);
    const state = await api(lab.host(others[1]!).url).get('/state');
    assert.equal(state.body.cluster.leader, newLeader, 'GET /state on the majority side names the new leader');

    const written = await api(lab.host(others[0]!).url).post('/services', { name: 'while-cut-off', image: TEST_IMAGE, replicas: 0 });
    assert.equal(written.status, 201, JSON.stringify(written.body));
    const refused = await api(lab.host(oldLeader).url).post('/services', { name: 'on-the-cut-off-side', image: TEST_IMAGE, replicas: 0 });
    assert.equal(refused.status, 503, `a write to the cut-off node is not acknowledged: ${JSON.stringify(refused.body)}`);

    for (const i of others) {
      const up = await runCli(lab.host(oldLeader).url, 'debug', 'link', 'up', `host-${i}`);
      assert.equal(up.code, 0, up.stderr);
    }
    assert.deepEqual((await api(lab.host(oldLeader).url).get('/debug/links')).body, { links: [] });
    const leaderNow = await waitFor(`host-${oldLeader} to follow a leader among the others`, async () => {
      const agreed = await agreedLeader(lab);
      return agreed && agreed !== oldLeaderName ? agreed : undefined;
    }, 15_000, 100);
    assert.ok(others.map((i) => `host-${i}`).includes(leaderNow!));
    const expected = await servicesOn(lab, others[0]!);
    assert.ok(expected.includes('while-cut-off'));
    assert.ok(!expected.includes('on-the-cut-off-side'), 'the write the cut-off node did not acknowledge is nowhere');
    assert.deepEqual(await servicesOn(lab, oldLeader), expected, 'the old leader holds what was written while it was cut off');
  });

  test('one way: the follower cutting what it sends the leader, or the leader cutting what it receives from the follower, the follower still follows (heartbeats arrive) and the leader, hearing nothing from it, marks it DOWN; up, it is READY', async () => {
    const leaderName = (await waitFor('a leader every host agrees on', () => agreedLeader(lab), 15_000))!;
    const leader = hostIndex(leaderName);
    const follower = [1, 2, 3].find((i) => i !== leader)!;
    const followerName = `host-${follower}`;
    const ways: Array<{ on: number; peer: string; direction: 'out' | 'in' }> = [
      { on: follower, peer: leaderName, direction: 'out' },
      { on: leader, peer: followerName, direction: 'in' },
    ];
    for (const { on, peer, direction } of ways) {
      await lab.settled();
      const cut = await api(lab.host(on).url).post('/debug/links', { peer, state: 'cut', direction });
      assert.equal(cut.status, 200, JSON.stringify(cut.body));
      assert.deepEqual(cut.body.links.map((l: { name: string; direction: string }) => `${l.name} ${l.direction}`), [`${peer} ${direction}`]);
      try {
        await waitFor(`${leaderName} to mark ${followerName} DOWN (cut ${direction} on host-${on})`, async () => (await statusOf(lab, leader, followerName)) === 'DOWN', 15_000, 200);
        assert.equal(await leaderSeenBy(lab, follower), leaderName, `${followerName} still follows ${leaderName}: the leader's messages reach it`);
      } finally {
        const up = await api(lab.host(on).url).post('/debug/links', { peer, state: 'up' });
        assert.equal(up.status, 200, JSON.stringify(up.body));
      }
      await waitFor(`${followerName} READY again`, async () => (await statusOf(lab, leader, followerName)) === 'READY', 15_000, 200);
    }
  });

  test('a restart brings every link back up: the restarted node lists no cut and follows the leader', async () => {
    const leaderName = (await waitFor('a leader every host agrees on', () => agreedLeader(lab), 15_000))!;
    const node = [1, 2, 3].find((i) => i !== hostIndex(leaderName))!;
    const cut = await runCli(lab.host(node).url, 'debug', 'link', 'cut', leaderName);
    assert.equal(cut.code, 0, cut.stderr);
    await lab.stopDaemon(node);
    await lab.startDaemon(lab.host(node));
    assert.deepEqual((await api(lab.host(node).url).get('/debug/links')).body, { links: [] });
    const ls = await runCli(lab.host(node).url, 'debug', 'link', 'ls');
    assert.equal(ls.code, 0, ls.stderr);
    assert.doesNotMatch(ls.stdout, /host-/);
    await waitFor(`host-${node} to follow a leader with the others`, () => agreedLeader(lab), 15_000, 100);
    const written = await api(lab.host(node).url).post('/services', { name: 'after-restart', image: TEST_IMAGE, replicas: 0 });
    assert.equal(written.status, 201, `a write through the restarted node is forwarded again: ${JSON.stringify(written.body)}`);
  });
});
