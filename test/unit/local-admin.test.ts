import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createApp } from '../../modules/app';
import { stubRestContext } from '../helpers/rest-context';
import { isLoopbackAddress, localAdminListen } from '../../modules/local-admin';
import { openDatabase } from '../../database/open-database';
import { SqliteStateMachine } from '../../daemon/voting/state-machine';
import { applyCommand } from '../../database/apply-command';
import { mintToken } from '../../database/tokens';

describe('local administration: which clients and listeners are the loopback', () => {
  test('loopback client addresses: 127.0.0.0/8, ::1 and 127.x mapped into IPv6', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopbackAddress(a), true, a);
    for (const a of ['10.78.0.254', '::ffff:10.78.0.1', 'fd00::2', '0.0.0.0', '', undefined]) assert.equal(isLoopbackAddress(a), false, String(a));
  });

  test('a daemon on a specific non-loopback address also listens on 127.0.0.1 at the same port; on loopback, a wildcard or a name it does not', () => {
    assert.deepEqual(localAdminListen('10.78.0.1:7070'), { host: '127.0.0.1', port: 7070 });
    assert.deepEqual(localAdminListen('[fd00::2]:7071'), { host: '127.0.0.1', port: 7071 });
    for (const listen of ['127.0.0.1:7070', '0.0.0.0:7070', '[::]:7070', '[::1]:7070', 'localhost:7070']) assert.equal(localAdminListen(listen), null, listen);
  });
});

/** This machine's first non-loopback IPv4 address: a client from it is not on the loopback. */
function otherAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

describe('GET /cluster/join-token is for admins: a loopback client, or an admin token', () => {
  const db = openDatabase(':memory:', { migrate: true });
  new SqliteStateMachine(db).apply([{ index: 1, term: 1, type: 'normal', data: JSON.stringify({ type: 'cluster.init', clusterId: 'c1', secret: 's', joinToken: 'BCT1-c1-secret', at: 1 }) }]);
  const ctx = stubRestContext(db, {
    voting: { readBarrier: async () => 1, join: async () => undefined as never, changeMembership: async () => undefined, raw: async () => ({ ok: true }) },
    advertise: '10.78.0.1:7070',
  });
  let server: Server;
  let port: number;
  before(async () => {
    server = createApp(ctx).listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    db.close();
  });

  test('from 127.0.0.1: the token and the flags a new node needs', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/cluster/join-token`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { token: 'BCT1-c1-secret', join: '--join 10.78.0.1:7070 --token BCT1-c1-secret' });
  });

  const other = otherAddress();
  test('from a non-loopback address: 401 without a token, 403 with a read token, the token with an admin one', { skip: other === undefined ? 'this machine has no non-loopback IPv4 address to come from' : false }, async () => {
    const res = await fetch(`http://${other}:${port}/cluster/join-token`);
    assert.equal(res.status, 401);
    const text = await res.text();
    assert.ok(!text.includes('BCT1-c1-secret'), text);
    assert.equal(JSON.parse(text).error.code, 'UNAUTHENTICATED');
    const token = async (name: string, role: 'read' | 'admin') => {
      const minted = mintToken();
      applyCommand(db, { type: 'token.create', accessor: minted.accessor, name, role, secretHash: minted.secretHash, expiresAt: null, createdBy: 'test', at: 1 });
      return minted.token;
    };
    const read = await fetch(`http://${other}:${port}/cluster/join-token`, { headers: { authorization: `Bearer ${await token('reader', 'read')}` } });
    assert.equal(read.status, 403);
    assert.match(((await read.json()) as { error: { message: string } }).error.message, /the token reader has the role read; GET \/cluster\/join-token needs admin/);
    const admin = await fetch(`http://${other}:${port}/cluster/join-token`, { headers: { authorization: `Bearer ${await token('root', 'admin')}` } });
    assert.equal(admin.status, 200);
    assert.equal(((await admin.json()) as { token: string }).token, 'BCT1-c1-secret');
  });
});
