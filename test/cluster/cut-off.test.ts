import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

/** voting.hostGraceMs as the lab runs it (the default). */
const GRACE_MS = 3000;

interface Seen {
  id: string;
  slot: string;
  startedAt: number;
}

/** A service's running containers in one host's own engine, with their slot and start time (the engine's clock is this machine's). */
async function runningOn(lab: Lab, i: number, service: string): Promise<Seen[]> {
  const list = await lab.host(i).docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } });
  return Promise.all(
    list.map(async (c) => {
      const info = await lab.host(i).docker.getContainer(c.Id).inspect();
      // The engine gives nanoseconds; Date.parse wants at most milliseconds.
      const startedAt = Date.parse(info.State.StartedAt.replace(/(\.\d{3})\d*Z$/, '$1Z'));
      return { id: c.Id, slot: c.Labels['io.bicycle.slot'] ?? '?', startedAt };
    }),
  );
}

async function isRunning(lab: Lab, i: number, id: string): Promise<boolean> {
  const list = await lab.host(i).docker.listContainers({ all: true, filters: { id: [id] } });
  return list.some((c) => c.State === 'running');
}

async function leaderName(lab: Lab): Promise<string | undefined> {
  for (const host of lab.hosts) {
    const res = await fetch(`${host.url}/state`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    if (!res?.ok) continue;
    const leader = ((await res.json()) as { cluster: { leader: string | null } }).cluster.leader;
    if (leader) return leader;
  }
  return undefined;
}

/** Running copies per slot of a service over every host: a slot with two is running twice. */
async function slotsEverywhere(lab: Lab, service: string): Promise<Map<string, number>> {
  const slots = new Map<string, number>();
  for (const i of [1, 2, 3]) for (const c of await runningOn(lab, i, service)) slots.set(c.slot, (slots.get(c.slot) ?? 0) + 1);
  return slots;
}

describe('a host cut off from both others: onDisconnect stop and keep', () => {
  let lab: Lab;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-')), 3, { subnet: freeSubnet() });
    await lab.up();
  });
  after(async () => {
    await lab?.down();
  });

  test('the cut-off host stops its stop replica within the grace and a few seconds, keeps its keep replica; healed, no slot runs twice', async (t) => {
    const one = api(lab.host(1).url);
    const guarded = await one.post('/services?wait=true&timeout=60', { name: 'guarded', image: TEST_IMAGE, replicas: 3, command: ['sleep', '3600'], onDisconnect: 'stop' });
    assert.equal(guarded.status, 201, JSON.stringify(guarded.body));
    assert.equal(guarded.body.onDisconnect, 'stop');
    // No published port, no setting: the default rule keeps it.
    const kept = await one.post('/services?wait=true&timeout=60', { name: 'kept', image: TEST_IMAGE, replicas: 3, command: ['sleep', '3600'] });
    assert.equal(kept.status, 201, JSON.stringify(kept.body));
    assert.equal(kept.body.onDisconnect, 'keep');
    await lab.settled();

    // Cut off a follower: its replicas are replaced by the leader on the other side.
    const leader = (await waitFor('a leader', () => leaderName(lab), 5000))!;
    const cut = [1, 2, 3].find((i) => `host-${i}` !== leader)!;
    const others = [1, 2, 3].filter((i) => i !== cut);
    const [guardedHere] = await runningOn(lab, cut, 'guarded');
    const [keptHere] = await runningOn(lab, cut, 'kept');
    assert.ok(guardedHere && keptHere, `host-${cut} runs one replica of each`);
    const before = new Set([...(await Promise.all(others.map((i) => runningOn(lab, i, 'guarded')))).flat().map((c) => c.id)]);
    const beforeKept = new Set([...(await Promise.all(others.map((i) => runningOn(lab, i, 'kept')))).flat().map((c) => c.id)]);

    const cutAt = Date.now();
    for (const i of others) await lab.partition(cut, i);
    let guardedStoppedAt: number | undefined;
    let guardedReplacedAt: number | undefined;
    let keptReplacedAt: number | undefined;
    try {
      // Watch both sides until the cut-off copy stopped and both replacements run (or too long passed).
      const deadline = cutAt + GRACE_MS + 20_000;
      while (Date.now() < deadline && (guardedStoppedAt === undefined || guardedReplacedAt === undefined || keptReplacedAt === undefined)) {
        if (guardedStoppedAt === undefined && !(await isRunning(lab, cut, guardedHere.id))) guardedStoppedAt = Date.now();
        if (guardedReplacedAt === undefined) {
          const fresh = (await Promise.all(others.map((i) => runningOn(lab, i, 'guarded')))).flat().find((c) => !before.has(c.id));
          if (fresh) guardedReplacedAt = fresh.startedAt;
        }
        if (keptReplacedAt === undefined) {
          const fresh = (await Promise.all(others.map((i) => runningOn(lab, i, 'kept')))).flat().find((c) => !beforeKept.has(c.id));
          if (fresh) keptReplacedAt = fresh.startedAt;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(guardedStoppedAt !== undefined, `host-${cut}'s replica of guarded stopped`);
      assert.ok(guardedStoppedAt - cutAt <= GRACE_MS + 4000, `stopped ${guardedStoppedAt - cutAt} ms after the cut (grace ${GRACE_MS} ms)`);
      assert.ok(guardedStoppedAt - cutAt > GRACE_MS - 500, `not before the grace: stopped ${guardedStoppedAt - cutAt} ms after the cut`);
      assert.ok(guardedReplacedAt !== undefined && keptReplacedAt !== undefined, 'both services got a replacement on the other side');
      await waitFor('guarded and kept at 3 running on the other side', async () => {
        const g = (await Promise.all(others.map((i) => runningOn(lab, i, 'guarded')))).flat();
        const k = (await Promise.all(others.map((i) => runningOn(lab, i, 'kept')))).flat();
        return g.length === 3 && k.length === 3;
      }, 10_000, 200);
      // Held a while longer: the keep replica still runs on the cut-off host, the stop one stays stopped.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(await isRunning(lab, cut, keptHere.id), true, `host-${cut} keeps its replica of kept`);
      assert.deepEqual(await runningOn(lab, cut, 'guarded'), [], `host-${cut} starts no replica of guarded while cut off`);
    } finally {
      await lab.heal();
    }
    const healedAt = Date.now();

    let keptStoppedAt: number | undefined;
    await waitFor('both services converged: 3 running each, no slot twice, the kept copy replaced', async () => {
      if (keptStoppedAt === undefined && !(await isRunning(lab, cut, keptHere.id))) keptStoppedAt = Date.now();
      const g = await slotsEverywhere(lab, 'guarded');
      const k = await slotsEverywhere(lab, 'kept');
      const once = (m: Map<string, number>) => m.size === 3 && [...m.values()].every((n) => n === 1);
      return keptStoppedAt !== undefined && once(g) && once(k);
    }, 30_000, 100);
    await lab.settled();

    const stopWindow = guardedStoppedAt! - guardedReplacedAt!;
    const keepWindow = keptStoppedAt! - keptReplacedAt!;
    t.diagnostic(`cut off at 0 ms; grace ${GRACE_MS} ms; stop: replacement running at ${guardedReplacedAt! - cutAt} ms, cut-off copy stopped at ${guardedStoppedAt! - cutAt} ms`);
    t.diagnostic(`stop: the slot ran twice for ${Math.max(0, stopWindow)} ms${stopWindow < 0 ? ` (no copy ran for ${-stopWindow} ms)` : ''}`);
    t.diagnostic(`keep: replacement running at ${keptReplacedAt! - cutAt} ms, healed at ${healedAt - cutAt} ms, cut-off copy stopped at ${keptStoppedAt! - cutAt} ms: the slot ran twice for ${keepWindow} ms`);
  });
});
