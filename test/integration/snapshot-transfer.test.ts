import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import winston from 'winston';
import { openDatabase, type Db } from '../../database/open-database';
import { setLocal } from '../../database/queries';
import { SnapshotSender, SNAPSHOT_PATH, snapshotId } from '../../daemon/voting/snapshot-sender';
import { PlainPeerHttp } from '../../daemon/tls/peer-tls';
import type { SnapshotRequest } from '../../daemon/voting/raft/index';
import { serveApp, stubRestContext } from '../helpers/rest-context';

/**
 * A snapshot sent in chunks to a real REST listener over loopback sockets,
 * through a link that cuts every connection after a few hundred KiB (as a
 * lossy link does): it arrives whole, once, and what was sent again is at
 * most the chunks in flight at each cut, not the transfer from zero. A
 * second transfer of the same snapshot (a leader that gave up and sends it
 * again) resumes where the receiver is.
 */
describe('snapshots in chunks, resumable, over a lossy link', () => {
  const SECRET = 'a-cluster-secret-for-the-test';
  let dir: string;
  let db: Db;
  let app: Server;
  let base: string;
  const delivered: unknown[] = [];
  const quiet = winston.createLogger({ silent: true });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bicycle-snapshot-'));
    db = openDatabase(join(dir, 'bicycle.db'), { migrate: true });
    setLocal(db, 'cluster_secret', SECRET);
    const served = await serveApp(stubRestContext(db, { dataDir: dir, deliverRaft: (messages) => delivered.push(...messages) }));
    app = served.server;
    base = served.base;
  });
  after(() => {
    app?.close();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A TCP relay to the app that destroys a connection once `cutAfter` bytes
   * went through it (while `cuts` lasts); `dies`: counted over all its
   * connections, so once past it every connection is cut (a link gone for good).
   */
  async function lossyLink(cutAfter: number, cuts: number, dies = false): Promise<{ address: string; cutsMade(): number; close(): void }> {
    const target = new URL(base);
    let made = 0;
    let passedInAll = 0;
    const server = createServer((client: Socket) => {
      const upstream = connect(Number(target.port), target.hostname);
      let passed = 0;
      client.on('data', (chunk: Buffer) => {
        passed += chunk.length;
        passedInAll += chunk.length;
        if (made < cuts && (dies ? passedInAll : passed) > cutAfter) {
          made++;
          client.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => client.write(chunk));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, cutsMade: () => made, close: () => server.close() };
  }

  function bigSnapshot(index: number): SnapshotRequest {
    // About 2 MiB of state, not compressible into sameness.
    const rows = Array.from({ length: 4000 }, (_, i) => ({ id: `task-${i}`, blob: randomBytes(256).toString('base64') }));
    return { type: 'snapshot', from: 'leader-1', to: 'follower-2', term: 3, snapshot: { meta: { index, term: 3, conf: { voters: ['leader-1', 'follower-2'], learners: [] } }, data: JSON.stringify(rows) } } as SnapshotRequest;
  }

  const sender = (chunkBytes: number, maxFailures = 20) =>
    new SnapshotSender({ http: new PlainPeerHttp(), selfAddress: '127.0.0.1:1', secret: () => SECRET, log: quiet, chunkBytes, retryPauseMs: 10, maxFailures });

  test('cut every 300 KiB, the snapshot arrives whole and once, resending only the chunks cut in flight', async () => {
    const link = await lossyLink(300 * 1024, 8);
    try {
      const message = bigSnapshot(1000);
      const size = Buffer.byteLength(JSON.stringify(message));
      const result = await sender(64 * 1024).send(link.address, message);
      assert.equal(result.ok, true);
      assert.ok(link.cutsMade() >= 5, `the link cut the transfer ${link.cutsMade()} times`);
      assert.equal(result.totalBytes, size);
      // Each cut loses at most the chunk in flight: far from sending the whole again per cut.
      assert.ok(result.sentBytes <= size + link.cutsMade() * 64 * 1024, `sent ${result.sentBytes} of ${size} with ${link.cutsMade()} cuts`);
      assert.equal(delivered.length, 1);
      assert.deepEqual(delivered[0], message);
      assert.deepEqual(readdirSync(join(dir, 'snapshot-incoming')), [], 'no partial file is left');
    } finally {
      link.close();
      delivered.length = 0;
    }
  });

  test('a transfer given up half-way resumes where the receiver is when the same snapshot is sent again', async () => {
    const message = bigSnapshot(2000);
    const size = Buffer.byteLength(JSON.stringify(message));
    // The link dies for good after about half: the first sender gives up.
    const dead = await lossyLink(size / 2, 1000, true);
    try {
      const first = await sender(128 * 1024, 3).send(dead.address, message);
      assert.equal(first.ok, false);
    } finally {
      dead.close();
    }
    assert.equal(delivered.length, 0, 'nothing is handed to Raft before the last chunk');
    const held = await fetch(`${base}${SNAPSHOT_PATH}/${snapshotId(message)}?total=${size}&sha256=${sha(message)}`, { headers: { authorization: `Bearer ${SECRET}` } });
    const { received } = (await held.json()) as { received: number };
    assert.ok(received > 0 && received < size, `the receiver holds ${received} of ${size}`);

    const second = await sender(128 * 1024).send(new URL(base).host, message);
    assert.equal(second.ok, true);
    assert.equal(second.resumedAt, received, 'the second transfer starts where the first stopped');
    assert.equal(second.sentBytes, size - received);
    assert.deepEqual(delivered, [message]);
    delivered.length = 0;
  });

  test('a chunk at the wrong offset is answered 409 with the amount held; chunks that do not match the hash are refused', async () => {
    const message = bigSnapshot(3000);
    const text = Buffer.from(JSON.stringify(message));
    const id = snapshotId(message);
    const query = `total=${text.length}&sha256=${sha(message)}`;
    const post = (offset: number, body: Buffer) =>
      fetch(`${base}${SNAPSHOT_PATH}/${id}?${query}&offset=${offset}`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/octet-stream' }, body });
    const skipped = await post(1000, text.subarray(1000, 2000));
    assert.equal(skipped.status, 409);
    assert.deepEqual(await skipped.json(), { received: 0 });
    // The whole text with one byte changed: its hash does not match.
    const corrupt = Buffer.from(text);
    corrupt[10] = corrupt[10]! ^ 1;
    let offset = 0;
    let last: Response | undefined;
    while (offset < corrupt.length) {
      last = await post(offset, corrupt.subarray(offset, offset + 1024 * 1024));
      if (!last.ok) break;
      offset = ((await last.json()) as { received: number }).received;
    }
    assert.equal(last!.status, 400);
    assert.match(((await last!.json()) as { error: { message: string } }).error.message, /do not add up to its SHA-256/);
    assert.equal(delivered.length, 0);
    // Without the cluster secret: refused before anything is read.
    const stranger = await fetch(`${base}${SNAPSHOT_PATH}/${id}?${query}`);
    assert.equal(stranger.status, 401);
    assert.equal(existsSync(join(dir, 'snapshot-incoming', `${id}.part`)), false);
  });
});

function sha(message: SnapshotRequest): string {
  return createHash('sha256').update(JSON.stringify(message)).digest('hex');
}
