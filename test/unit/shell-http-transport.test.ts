import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import winston from 'winston';
import { HttpTransport, takeBatch, type HttpTransportOptions } from '../../daemon/voting/http-transport';
import { RAFT_PATH } from '../../daemon/cluster-protocol';
import { PlainPeerHttp } from '../../daemon/tls/peer-tls';
import type { Message } from '../../daemon/voting/raft/index';
import { waitFor } from '../helpers/wait';

const until = <T>(what: string, check: () => T | undefined | false) => waitFor(what, check, 10_000, 5);

/**
 * Raft messages over HTTP to real peers: HTTP servers on 127.0.0.1 that
 * record the batches they receive and answer when the test lets them. What
 * is checked is what a peer receives, what Raft hears (unreachable,
 * snapshot sent or not) and what the daemon log says.
 */
const SECRET = 'a-cluster-secret-long-enough-for-tests';

interface Received {
  path: string;
  authorization: string | undefined;
  from: string | undefined;
  messages: Array<{ type: string; term: number }>;
}

/** A peer's listener: records every request; while `hold()` is on, requests wait for `release()`. */
async function peer(status = 204): Promise<{ address: string; received: Received[]; hold(): void; release(): void; close(): Promise<void>; server: Server }> {
  const received: Received[] = [];
  let held: Array<() => void> | null = null;
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        authorization: req.headers.authorization,
        from: req.headers['x-bicycle-address'] as string | undefined,
        messages: req.url === RAFT_PATH ? JSON.parse(Buffer.concat(chunks).toString()) : [],
      });
      const answer = () => res.writeHead(status).end();
      if (held) held.push(answer);
      else answer();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    server,
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    hold: () => void (held ??= []),
    release: () => {
      const waiting = held ?? [];
      held = null;
      for (const answer of waiting) answer();
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A loopback port nothing listens on (a peer whose daemon is dead). */
async function deadAddress(): Promise<string> {
  const p = await peer();
  await p.close();
  return p.address;
}

function capturingLog(): { log: winston.Logger; lines: Array<{ level: string; message: string; peer?: string; error?: string }> } {
  const lines: Array<{ level: string; message: string; peer?: string }> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { lines, log: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }) };
}

function heartbeat(to: string, term: number): Message {
  return { type: 'heartbeat', from: 'self', to, term, commit: 0, context: '' };
}

function snapshot(to: string, term: number): Message {
  return { type: 'snapshot', from: 'self', to, term, snapshot: { meta: { index: 1, term: 1, config: { voters: ['self'], learners: [] } }, data: '{}' } } as unknown as Message;
}

function transport(addresses: Record<string, string>, extra: Partial<HttpTransportOptions> = {}) {
  const unreachable: string[] = [];
  const snapshots: Array<[string, boolean]> = [];
  const { log, lines } = capturingLog();
  const t = new HttpTransport({
    http: new PlainPeerHttp(),
    selfAddress: '127.0.0.1:7070',
    secret: () => SECRET,
    addressOf: (id) => addresses[id],
    onUnreachable: (id) => unreachable.push(id),
    onSnapshotSent: (id, ok) => snapshots.push([id, ok]),
    log,
    requestTimeoutMs: 2000,
    // These peers take POSTs (the carrier for peers without the Raft stream); the stream is test/unit/raft-stream.test.ts's.
    streams: false,
    ...extra,
  });
  return { t, unreachable, snapshots, lines };
}

const terms = (r: Received) => r.messages.map((m) => m.term);

describe('the HTTP transport of Raft messages', () => {
  const opened: Array<{ close(): Promise<void> }> = [];
  after(async () => {
    for (const p of opened) await p.close();
  });

  test('one POST at a time per peer: what is sent meanwhile goes in the next batch, with the cluster secret and this node\'s address', async () => {
    const b = await peer();
    opened.push(b);
    const { t, unreachable } = transport({ b: b.address });
    b.hold();
    t.send([heartbeat('b', 1)]);
    await until('the first batch', () => b.received.length === 1);
    for (let term = 2; term <= 11; term++) t.send([heartbeat('b', term)]);
    b.release();
    await until('the second batch', () => b.received.length === 2);
    assert.deepEqual(b.received.map(terms), [[1], [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]], 'ten sends while one request was under way: one batch');
    for (const r of b.received) {
      assert.equal(r.path, RAFT_PATH);
      assert.equal(r.authorization, `Bearer ${SECRET}`);
      assert.equal(r.from, '127.0.0.1:7070');
    }
    assert.deepEqual(unreachable, []);
    t.close();
  });

  test('a batch holds at most maxBatch messages; each peer gets only its own', async () => {
    const [b, c] = [await peer(), await peer()];
    opened.push(b, c);
    const { t } = transport({ b: b.address, c: c.address }, { maxBatch: 4 });
    const messages: Message[] = [];
    for (let term = 1; term <= 10; term++) messages.push(heartbeat('b', term), heartbeat('c', 100 + term));
    t.send(messages);
    await until('all of b\'s', () => b.received.flatMap(terms).length === 10);
    await until('all of c\'s', () => c.received.flatMap(terms).length === 10);
    assert.deepEqual(b.received.map(terms), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
    assert.deepEqual(c.received.flatMap(terms), [101, 102, 103, 104, 105, 106, 107, 108, 109, 110]);
    t.close();
  });

  test('the queue per peer is bounded: while a request is under way only the newest maxQueuedPerPeer messages are kept', async () => {
    const b = await peer();
    opened.push(b);
    const { t } = transport({ b: b.address }, { maxQueuedPerPeer: 3 });
    b.hold();
    t.send([heartbeat('b', 1)]);
    await until('the first batch', () => b.received.length === 1);
    for (let term = 2; term <= 50; term++) t.send([heartbeat('b', term)]);
    b.release();
    await until('the second batch', () => b.received.length === 2);
    assert.deepEqual(b.received.map(terms), [[1], [48, 49, 50]], 'the oldest were dropped (Raft sends again what matters)');
    t.close();
  });

  test('a dead peer is reported unreachable and logged once; the live one is not held up', async () => {
    const live = await peer();
    opened.push(live);
    const dead = await deadAddress();
    const { t, unreachable, lines } = transport({ live: live.address, dead });
    t.send([heartbeat('dead', 1), heartbeat('live', 1)]);
    await until('the dead peer reported', () => unreachable.includes('dead'));
    await until('the live peer\'s batch', () => live.received.length === 1);
    // It stays dead: more sends, more reports, one warning.
    t.send([heartbeat('dead', 2)]);
    await until('the second report', () => unreachable.filter((id) => id === 'dead').length >= 2);
    assert.equal(unreachable.includes('live'), false);
    const warnings = lines.filter((l) => l.message === 'peer unreachable');
    assert.equal(warnings.length, 1, JSON.stringify(lines));
    assert.equal(warnings[0]!.peer, 'dead');
    assert.equal(warnings[0]!.level, 'warn');
    t.close();
  });

  test('a peer that refuses the batch (an error status) is unreachable too, and "reachable again" once it answers', async () => {
    const refusing = await peer(500);
    opened.push(refusing);
    const { t, unreachable, lines } = transport({ b: refusing.address });
    t.send([heartbeat('b', 1)]);
    await until('the refusal reported', () => unreachable.length === 1);
    assert.match(lines.find((l) => l.message === 'peer unreachable')!.error ?? '', new RegExp(`${refusing.address} answered 500`));
    await refusing.close();
    // The peer's daemon comes back on the same port, answering.
    const port = Number(refusing.address.split(':')[1]);
    const back = createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
    back.listen(port, '127.0.0.1');
    await new Promise((resolve) => back.once('listening', resolve));
    opened.push({ close: () => new Promise<void>((resolve) => (back.closeAllConnections(), back.close(() => resolve()))) });
    t.send([heartbeat('b', 2)]);
    await until('reachable again', () => lines.some((l) => l.message === 'peer reachable again' && l.peer === 'b'));
    t.close();
  });

  test('a peer with no known address, or no cluster secret yet: nothing is sent and Raft hears it is unreachable', async () => {
    const b = await peer();
    opened.push(b);
    const noAddress = transport({});
    noAddress.t.send([heartbeat('b', 1), snapshot('c', 1)]);
    await until('unreachable', () => noAddress.unreachable.includes('b'));
    assert.deepEqual(noAddress.snapshots, [['c', false]], 'a snapshot for a peer without an address is not sent, and Raft hears so');
    assert.match(noAddress.lines.find((l) => l.message === 'peer unreachable')!.error!, /no address known for b/);
    noAddress.t.close();

    const noSecret = transport({ b: b.address }, { secret: () => undefined });
    noSecret.t.send([heartbeat('b', 1)]);
    await until('unreachable', () => noSecret.unreachable.includes('b'));
    assert.match(noSecret.lines.find((l) => l.message === 'peer unreachable')!.error!, /no cluster secret yet/);
    assert.deepEqual(b.received, []);
    noSecret.t.close();
  });

  test('after close nothing more is sent', async () => {
    const b = await peer();
    opened.push(b);
    const { t } = transport({ b: b.address });
    t.close();
    t.send([heartbeat('b', 1)]);
    // Another node's transport to the same peer: once its batch has arrived, the closed one's would have too.
    const other = transport({ b: b.address });
    other.t.send([heartbeat('b', 2)]);
    await until('the other batch', () => b.received.length > 0);
    assert.deepEqual(b.received.map(terms), [[2]]);
    other.t.close();
  });
});

describe('HttpTransport: a batch stays within a peer\'s request size', () => {
  const message = (i: number, pad: number): Message => ({ type: 'heartbeat', from: 'a', to: 'b', term: 1, commit: i, context: 'x'.repeat(pad) });

  test('takes messages while their JSON fits maxBytes, and a message larger than that alone; the rest stay queued in order', () => {
    const queue = [message(1, 400), message(2, 400), message(3, 400), message(4, 5000), message(5, 10)];
    const first = takeBatch(queue, 256, 1000);
    assert.ok(first.length <= 1000, `${first.length} bytes`);
    assert.deepEqual((JSON.parse(first) as Message[]).map((m) => (m as { commit: number }).commit), [1, 2]);
    assert.deepEqual((JSON.parse(takeBatch(queue, 256, 1000)) as Message[]).map((m) => (m as { commit: number }).commit), [3]);
    assert.deepEqual((JSON.parse(takeBatch(queue, 256, 1000)) as Message[]).map((m) => (m as { commit: number }).commit), [4]);
    assert.deepEqual((JSON.parse(takeBatch(queue, 256, 1000)) as Message[]).map((m) => (m as { commit: number }).commit), [5]);
    assert.equal(queue.length, 0);
  });
});
