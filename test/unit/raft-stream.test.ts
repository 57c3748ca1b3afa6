import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import winston from 'winston';
import { Writable } from 'node:stream';
import { openDatabase, type Db } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import { HttpTransport } from '../../daemon/voting/http-transport';
import { PlainPeerHttp } from '../../daemon/tls/peer-tls';
import { RAFT_PATH } from '../../daemon/cluster-protocol';
import type { Message } from '../../daemon/voting/raft/index';
import { serveApp, stubRestContext } from '../helpers/rest-context';
import { waitFor } from '../helpers/wait';

const until = <T>(what: string, check: () => T | undefined | false) => waitFor(what, check, 10_000, 5);

/**
 * Raft batches over the Raft stream (one long-lived connection per peer):
 * the sending side is the voting thread's HttpTransport, the receiving side
 * the REST app's listener as the daemon runs it (test/helpers/rest-context.ts
 * attaches the stream server as daemon/threads/rest.ts does), over real
 * loopback sockets. What is checked is what the receiving node hands to its
 * Raft, what the sender's Raft hears (unreachable), what its log says, and
 * how many connections the peer saw.
 */
const SECRET = 'a-cluster-secret-long-enough-for-tests';
const SELF = '127.0.0.1:7070';
const AT = 1_700_000_000_000;

function peerDb(): Db {
  const db = openDatabase(':memory:', { migrate: true });
  applyCommand(db, { type: 'cluster.init', clusterId: 'c1', secret: SECRET, joinToken: 'BCT1-c1-x', at: AT });
  applyCommand(db, { type: 'node.register', node: { id: 'alpha', name: 'alpha', address: SELF, role: 'manager', startedAt: AT }, at: AT });
  return db;
}

const heartbeat = (term: number, to = 'beta'): Message => ({ type: 'heartbeat', from: 'alpha', to, term, commit: 0 }) as unknown as Message;

function capturingLog(): { log: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  return { log: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream: sink })] }), lines };
}

function sender(address: string, secret = SECRET, requestTimeoutMs = 2000) {
  const unreachable: string[] = [];
  const { log, lines } = capturingLog();
  const t = new HttpTransport({
    http: new PlainPeerHttp(), selfAddress: SELF, secret: () => secret, addressOf: () => address,
    onUnreachable: (id) => unreachable.push(id), onSnapshotSent: () => {}, log, requestTimeoutMs,
  });
  return { t, unreachable, lines };
}

/** The REST app of a peer, counting the TCP connections it accepts; closing ends its streams too. */
async function peer(db = peerDb()) {
  const delivered: { terms: number[]; from: string | null }[] = [];
  const served = await serveApp(stubRestContext(db, { deliverRaft: (messages, from) => delivered.push({ terms: (messages as { term: number }[]).map((m) => m.term), from }) }));
  let connections = 0;
  served.server.on('connection', () => connections++);
  const address = served.base.replace('http://', '');
  return { ...served, db, address, delivered, connections: () => connections, close: () => { served.server.closeAllConnections(); served.server.close(); } };
}

const closers: (() => void)[] = [];
after(() => closers.forEach((close) => close()));

describe('Raft batches over one stream per peer', () => {
  test('batches arrive in order, with this node\'s address, over one connection', async () => {
    const p = await peer();
    const s = sender(p.address);
    closers.push(() => s.t.close(), p.close);
    for (let term = 1; term <= 5; term++) {
      s.t.send([heartbeat(term)]);
      await until(`batch ${term} delivered`, () => p.delivered.length === term);
    }
    assert.deepEqual(p.delivered.map((d) => d.terms), [[1], [2], [3], [4], [5]]);
    assert.ok(p.delivered.every((d) => d.from === SELF), 'each batch says where the sender listens');
    assert.equal(p.connections(), 1, 'one connection for all five batches');
    assert.deepEqual(s.unreachable, []);
  });

  test('a sender without the cluster secret hands nothing to the peer\'s Raft and hears the peer unreachable', async () => {
    const p = await peer();
    const s = sender(p.address, 'not-the-secret');
    closers.push(() => s.t.close(), p.close);
    s.t.send([heartbeat(1)]);
    await until('the peer reported unreachable', () => s.unreachable.length > 0);
    assert.deepEqual(p.delivered, []);
    assert.match(s.lines.join(''), /"error":"[^"]*answered 401"[^\n]*"message":"peer unreachable"/);
  });

  test('a peer that restarts gets the next batch over a new stream', async () => {
    const p = await peer();
    const s = sender(p.address);
    closers.push(() => s.t.close());
    s.t.send([heartbeat(1)]);
    await until('the first batch', () => p.delivered.length === 1);
    const port = (p.server.address() as AddressInfo).port;
    p.close();
    const again = await servedOn(port, p.db);
    closers.push(again.close);
    // The sender may lose a batch or two to the dead connection (Raft sends again); a later one arrives.
    let term = 2;
    await until('a batch after the restart', () => {
      s.t.send([heartbeat(term++)]);
      return again.delivered.length > 0;
    });
  });

  test('while the link from the sender is cut (--debug-links), its stream is dropped and nothing is handed over', async () => {
    const p = await peer();
    const s = sender(p.address);
    closers.push(() => s.t.close(), p.close);
    s.t.send([heartbeat(1)]);
    await until('the first batch', () => p.delivered.length === 1);
    p.cuts.set([{ peerId: 'alpha', name: 'alpha', address: SELF, direction: 'in', since: new Date(AT).toISOString() }]);
    s.t.send([heartbeat(2)]);
    await until('the sender hears the peer unreachable', () => s.unreachable.length > 0);
    assert.deepEqual(p.delivered.map((d) => d.terms), [[1]]);
    p.cuts.set([]);
    let term = 3;
    await until('a batch once the link is up', () => {
      s.t.send([heartbeat(term++)]);
      return p.delivered.length > 1;
    });
  });

  test('a peer that takes the stream but never answers is given up after the request timeout, and the connection closed', async () => {
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: bicycle-raft/1\r\nConnection: Upgrade\r\n\r\n'));
      socket.on('error', () => {});
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => silent.once('listening', resolve));
    closers.push(() => silent.close());
    const s = sender(`127.0.0.1:${(silent.address() as AddressInfo).port}`, SECRET, 300);
    closers.push(() => s.t.close());
    s.t.send([heartbeat(1)]);
    await until('the peer reported unreachable', () => s.unreachable.length > 0);
    assert.match(s.lines.join(''), /no answer to a Raft batch within 300 ms/);
    await until('the silent connection closed by the sender', () => sockets[0]?.readableEnded || sockets[0]?.destroyed);
  });

  test('a peer from before streams (the upgrade answered 404) gets its batches as POSTs', async () => {
    const posts: number[][] = [];
    const old: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === RAFT_PATH) {
          posts.push((JSON.parse(body) as { term: number }[]).map((m) => m.term));
          res.writeHead(204).end();
        } else res.writeHead(404).end();
      });
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => old.once('listening', resolve));
    closers.push(() => { old.closeAllConnections(); old.close(); });
    const s = sender(`127.0.0.1:${(old.address() as AddressInfo).port}`);
    closers.push(() => s.t.close());
    s.t.send([heartbeat(1)]);
    await until('the first POST', () => posts.length === 1);
    s.t.send([heartbeat(2)]);
    await until('the second POST', () => posts.length === 2);
    assert.deepEqual(posts, [[1], [2]]);
    assert.deepEqual(s.unreachable, []);
    assert.match(s.lines.join(''), /"answer":404[^\n]*peer did not take the Raft stream; sending it POSTs/);
  });
});

/** The same peer's app listening again on `port` (a restart). */
async function servedOn(port: number, db: Db) {
  const delivered: number[][] = [];
  const served = await serveApp(stubRestContext(db, { deliverRaft: (messages) => delivered.push((messages as { term: number }[]).map((m) => m.term)) }));
  // serveApp takes a free port; listen again on the old one.
  await new Promise<void>((resolve) => served.server.close(() => resolve()));
  await new Promise<void>((resolve) => served.server.listen(port, '127.0.0.1', resolve));
  return { delivered, close: () => { served.server.closeAllConnections(); served.server.close(); } };
}
