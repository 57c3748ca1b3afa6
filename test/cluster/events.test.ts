import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterEvent } from '../../database/events';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

/**
 * One GET /events stream (NDJSON) read as a client reads it: complete lines
 * only, blank heartbeat lines skipped. `ended` resolves (never rejects) with
 * why the stream stopped: 'end' when the server closed it, else the error.
 */
class EventReader {
  readonly events: ClusterEvent[] = [];
  readonly ended: Promise<string>;
  private readonly abort = new AbortController();

  constructor(readonly url: string, since: number) {
    this.ended = this.read(`${url}/events?since=${since}`);
  }

  private async read(url: string): Promise<string> {
    try {
      const res = await fetch(url, { signal: this.abort.signal });
      if (res.status !== 200) return `answered ${res.status}: ${await res.text()}`;
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) if (line.trim()) this.events.push(JSON.parse(line) as ClusterEvent);
      }
      return 'end';
    } catch (error) {
      return `error: ${(error as Error).message}`;
    }
  }

  /** The index of the last event read (0 before any). */
  lastIndex(): number {
    return this.events.at(-1)?.index ?? 0;
  }

  find(match: (e: ClusterEvent) => boolean): ClusterEvent | undefined {
    return this.events.find(match);
  }

  stop(): void {
    this.abort.abort();
  }
}

/** An event as one JSON text, to compare sequences read from different nodes. */
const text = (e: ClusterEvent) => JSON.stringify(e);

/**
 * GET /events across the hosts of a real three-host lab: events are read from
 * the committed log each node applies, so a change made through one node
 * reaches a reader on another with the entry's Raft index, and a reader whose
 * node (the leader) dies resumes on a survivor with ?since= the last index it
 * saw and gets every later event exactly once: its two streams together are
 * exactly what a reader on the third node, never disconnected, got.
 */
describe('events across the nodes of a three-host lab', () => {
  let lab: Lab;
  let leader: number;
  /** Where the changes are made. */
  let writer: number;
  /** Where the reader that never disconnects reads. */
  let third: number;
  const readers: EventReader[] = [];
  const reader = (i: number, since: number) => {
    const r = new EventReader(lab.host(i).url, since);
    readers.push(r);
    return r;
  };
  let steady: EventReader;
  let cut: EventReader;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-events-')), 3, { subnet: freeSubnet() });
    await lab.up();
    const name = await waitFor('a leader', async () => (await api(lab.host(1).url).get('/state')).body.cluster.leader as string | null, 10_000);
    leader = lab.hosts.find((h) => h.name === name)!.index;
    [writer, third] = [1, 2, 3].filter((i) => i !== leader) as [number, number];
    // Both from the start of the log: the same history, read on two nodes.
    steady = reader(third, 0);
    cut = reader(leader, 0);
  });
  after(async () => {
    for (const r of readers) r.stop();
    await lab?.down();
  });

  test('a change made through one node reaches readers on the others, with its Raft index', async () => {
    const created = await api(lab.host(writer).url).post('/services', { name: 'ev', image: TEST_IMAGE, replicas: 1, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const isCreate = (e: ClusterEvent) => e.type === 'service' && e.action === 'create' && e.service === 'ev';
    const onThird = await waitFor(`the create of ev in the stream of ${lab.host(third).name}`, () => steady.find(isCreate), 10_000, 50);
    const onLeader = await waitFor(`the create of ev in the stream of ${lab.host(leader).name}`, () => cut.find(isCreate), 10_000, 50);
    assert.deepEqual(onLeader, onThird, 'the same event, with the same index, on both nodes');
    assert.ok(Number.isInteger(onThird.index) && onThird.index > 0, `index ${onThird.index}`);
    assert.equal(onThird.attributes.image, TEST_IMAGE);
    // Its index is the entry's: a read from just before it, on the node the change went through, starts with it.
    const replay = reader(writer, onThird.index - 1);
    const first = await waitFor('the replay from the index before', () => replay.events[0], 10_000, 50);
    replay.stop();
    assert.deepEqual(first, onThird);
    // And the log is one history: every event the leader's reader has so far, the third node's has, in the same order.
    const upTo = Math.min(steady.lastIndex(), cut.lastIndex());
    assert.deepEqual(cut.events.filter((e) => e.index <= upTo).map(text), steady.events.filter((e) => e.index <= upTo).map(text));
  });

  test('the leader dies mid-stream: its reader resumes on a survivor with ?since= and gets every later event exactly once', async () => {
    const client = api(lab.host(writer).url);
    // Changes keep coming through the writer's node before, during and after the leader's loss.
    let writing = true;
    let killed = false;
    let acceptedAfterKill = 0;
    const answers = new Map<number, number>();
    const writes = (async () => {
      for (let n = 0; writing; n++) {
        const res = await client.patch('/services/ev', { replicas: 1 + (n % 3) }).catch((e: Error) => ({ status: -1, body: e.message }));
        // The API helper throws when an answer does not match /openapi.json: that is a failure, not a refusal to wait out.
        if (res.status === -1 && /openapi\.json/.test(String(res.body))) throw new Error(String(res.body));
        answers.set(res.status, (answers.get(res.status) ?? 0) + 1);
        if (killed && res.status === 200) acceptedAfterKill++;
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    await waitFor('the cut reader to follow the writes', () => cut.events.filter((e) => e.type === 'service' && e.action === 'update' && e.service === 'ev').length >= 3, 15_000, 50);

    await lab.kill(leader);
    killed = true;
    const why = await Promise.race([cut.ended, new Promise<string>((r) => setTimeout(() => r('still open'), 10_000))]);
    assert.notEqual(why, 'still open', "the stream from the killed leader's host ended");
    const lastSeen = cut.lastIndex();
    const resumed = reader(writer, lastSeen);

    const newLeader = await waitFor('a new leader among the survivors', async () => {
      const st = (await api(lab.host(writer).url).get('/state')).body;
      return st.cluster.leader && st.cluster.leader !== lab.host(leader).name ? (st.cluster.leader as string) : undefined;
    }, 15_000, 100);
    await waitFor('writes accepted again', () => acceptedAfterKill > 0 && resumed.events.some((e) => e.index > lastSeen && e.type === 'service' && e.action === 'update'), 20_000, 100);
    // The new leader marks the lost host DOWN (after voting.hostGraceMs): its decisions reach the resumed reader too.
    await waitFor('the lost leader marked down, in the resumed stream', () => resumed.find((e) => e.index > lastSeen && e.type === 'node' && e.action === 'down'), 20_000, 100);
    writing = false;
    await writes;
    // A last change, seen by both readers, closes the comparison.
    const marker = await waitFor('the marker service created', async () => {
      const res = await client.post('/services', { name: 'marker', image: TEST_IMAGE, replicas: 0 });
      return res.status === 201 ? res : undefined;
    }, 15_000, 200);
    assert.equal(marker.status, 201);
    const isMarker = (e: ClusterEvent) => e.type === 'service' && e.action === 'create' && e.service === 'marker';
    const end = (await waitFor('the marker in the resumed stream', () => resumed.find(isMarker), 15_000, 50)).index;
    await waitFor('the marker in the steady stream', () => steady.find(isMarker), 15_000, 50);

    const before = cut.events.filter((e) => e.index <= end).map(text);
    const after = resumed.events.filter((e) => e.index <= end).map(text);
    const reference = steady.events.filter((e) => e.index <= end).map(text);
    assert.ok(after.length > 0 && after.every((t) => JSON.parse(t).index > lastSeen), 'the resumed stream starts after the last index seen');
    const joined = [...before, ...after];
    const missing = reference.filter((t) => !joined.includes(t));
    assert.deepEqual(missing, [], 'no event missing');
    assert.deepEqual(joined, reference, 'the two streams, one after the other, are the never-disconnected reader\'s, in order');
    // And against the final state: the last replicas the events say is the service's.
    const lastUpdate = resumed.events.filter((e) => e.type === 'service' && e.service === 'ev' && e.action === 'update').at(-1)!;
    assert.equal(lastUpdate.attributes.replicas, (await client.get('/services/ev')).body.replicas);
    console.log(
      `leader ${lab.host(leader).name} killed at index ${lastSeen}; new leader ${newLeader}; ${before.length} events before the cut, ${after.length} after it up to index ${end}; ` +
        `writes through ${lab.host(writer).name} answered ${JSON.stringify(Object.fromEntries(answers))}`,
    );
  });
});
