import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

// docs/voting.md, "Exactly once": a follower whose forward to the leader is
// cut after the leader committed it sends the write again; the write takes
// effect once and the client hears 201, not 409 SERVICE_EXISTS.

async function leaderSeenBy(lab: Lab, i: number): Promise<string | null | undefined> {
  const res = await fetch(`${lab.host(i).url}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
  return res?.ok ? ((await res.json()) as { leader: string | null }).leader : undefined;
}

/** The service.create entries for `name` in a host's Raft log, and what its applied_requests remembers of them. */
function createsInLog(lab: Lab, i: number, name: string): { entries: number; requestIds: string[] } {
  const db = new Database(join(lab.dataDir(lab.host(i)), 'bicycle.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT data FROM raft_entries WHERE type = 'normal'").all() as Array<{ data: string }>;
    const creates = rows.map((r) => JSON.parse(r.data) as { type: string; name?: string; request?: { id: string } }).filter((c) => c.type === 'service.create' && c.name === name);
    return { entries: creates.length, requestIds: creates.map((c) => c.request?.id ?? '(none)') };
  } finally {
    db.close();
  }
}

describe('exactly once across a cut forward', () => {
  let lab: Lab;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-once-')), 3, { subnet: freeSubnet() });
    await lab.up();
  });
  after(async () => {
    await lab?.down();
  });

  test('a create whose forward loses its answer after the leader committed it answers 201 once the cut heals, and exists once', async () => {
    const firstLeader = (await waitFor('a leader', async () => (await leaderSeenBy(lab, 1)) ?? undefined, 10_000))!;
    const follower = [1, 2, 3].find((i) => i !== Number(firstLeader.replace('host-', '')))!;
    // A short forward timeout on the follower, so its REST thread sends the forward again within its 3 s of retries.
    await lab.stopDaemon(follower);
    await lab.startDaemon(lab.host(follower), undefined, [], { voting: { forwardTimeoutMs: 1000 } });
    await lab.settled();
    // The restarted follower learns the leader from its first heartbeat; on a loaded machine the leader may also have moved.
    const leaderName = (await waitFor('the restarted follower to know a leader', async () => (await leaderSeenBy(lab, follower)) ?? undefined, 15_000))!;
    assert.notEqual(leaderName, lab.host(follower).name, 'the restarted node is a follower');
    const leader = Number(leaderName.replace('host-', ''));

    // A first write through the follower opens its kept-alive connection to the leader.
    const warm = await api(lab.host(follower).url).post('/services', { name: 'warm', image: TEST_IMAGE, replicas: 0 });
    assert.equal(warm.status, 201, JSON.stringify(warm.body));

    // Drop the leader's packets to the follower: the follower's forward still arrives on that connection and the
    // leader commits it with the third host, but its answer never comes back.
    await lab.partition(leader, follower, { oneWay: true });
    const answer = api(lab.host(follower).url).post('/services', { name: 'once', image: TEST_IMAGE, replicas: 0 });
    await new Promise((r) => setTimeout(r, 1500));
    await lab.heal();
    const res = await answer;

    const log = createsInLog(lab, leader, 'once');
    assert.ok(log.entries >= 2, `the cut must land after the commit, so the follower proposes again; the leader's log has ${log.entries} create(s)`);
    assert.equal(new Set(log.requestIds).size, 1, `every copy carries the first request id: ${log.requestIds.join(', ')}`);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.version, 1);
    for (const i of [1, 2, 3]) {
      const services = await waitFor(`host-${i} to hold the service`, async () => {
        const read = await api(lab.host(i).url).get('/services?consistent=true');
        return read.status === 200 ? (read.body.services as Array<{ name: string; version: number }>).filter((s) => s.name === 'once') : undefined;
      }, 10_000);
      assert.deepEqual(services.map((s) => `${s.name}@${s.version}`), ['once@1'], `host-${i}`);
    }
  });
});
