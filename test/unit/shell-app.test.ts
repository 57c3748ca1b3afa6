import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { applyCommand } from '../../database/apply-command';
import { mintToken, type Role } from '../../database/tokens';
import type { Db } from '../../database/open-database';
import type { AuthMode } from '../../modules/auth';
import { serveApp, stubRestContext } from '../helpers/rest-context';
import { AT, clusterDb } from '../helpers/shell-db';

/**
 * The REST app end to end in one process: createApp's koa callback on a
 * real loopback server over a real database in a temp dir, proposals
 * applied as the leader would. What is checked is the HTTP answer: status
 * and body.
 */
function appOver(db: Db, auth: AuthMode) {
  let now = AT + 60_000;
  const ctx = stubRestContext(db, {
    auth,
    now: () => (now += 1000),
    async propose(command) {
      return applyCommand(db, command);
    },
  });
  let server: Server | undefined;
  let base = '';
  return {
    async start() {
      ({ server, base } = await serveApp(ctx));
    },
    stop() {
      server?.closeAllConnections();
      server?.close();
    },
    async call(method: string, path: string, options: { body?: unknown; raw?: string; token?: string } = {}) {
      const headers: Record<string, string> = {};
      if (options.body !== undefined || options.raw !== undefined) headers['content-type'] = 'application/json';
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const body = options.raw ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined);
      const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as any) : null };
    },
  };
}

function token(db: Db, name: string, role: Role): string {
  const minted = mintToken();
  const result = applyCommand(db, { type: 'token.create', accessor: minted.accessor, name, role, secretHash: minted.secretHash, expiresAt: null, createdBy: 'test', at: AT });
  assert.equal(result.ok, true);
  return minted.token;
}

describe('the REST app on the loopback, auth auto', () => {
  const opened = clusterDb([{ id: 'n1', name: 'host-1' }], 'n1');
  const app = appOver(opened.db, 'auto');
  before(() => app.start());
  after(() => {
    app.stop();
    opened.close();
  });

  test('a client on the loopback needs no token: a service is created and then listed and shown', async () => {
    const created = await app.call('POST', '/services', { body: { name: 'web', image: 'web:1', replicas: 2, command: ['sleep', '3600'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.name, 'web');
    assert.equal(created.body.replicas, 2);
    assert.equal(created.body.state, 'NEW');

    const listed = await app.call('GET', '/services');
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.services.map((s: { name: string }) => s.name), ['web']);
    const shown = await app.call('GET', '/services/web');
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body.command, ['sleep', '3600']);
    assert.deepEqual(shown.body.tasks, []);
  });

  test('a token it does give is checked all the same', async () => {
    const bad = await app.call('GET', '/services', { token: 'not-a-token' });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.code, 'UNAUTHENTICATED');
    assert.match(bad.body.error.message, /not an API token/);
    const reader = token(opened.db, 'reader', 'read');
    assert.equal((await app.call('GET', '/services', { token: reader })).status, 200);
    const denied = await app.call('DELETE', '/services/web', { token: reader });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'PERMISSION_DENIED');
    assert.match(denied.body.error.message, /the token reader has the role read; DELETE \/services\/web needs operator/);
  });

  test('unknown: a service, a route: 404 with { error: { code, message } }', async () => {
    const service = await app.call('GET', '/services/nope');
    assert.equal(service.status, 404);
    assert.deepEqual(Object.keys(service.body), ['error']);
    assert.equal(service.body.error.code, 'SERVICE_NOT_FOUND');
    assert.match(service.body.error.message, /nope/);

    const route = await app.call('GET', '/no/such/route');
    assert.equal(route.status, 404);
    assert.deepEqual(route.body, { error: { code: 'NOT_FOUND', message: 'no route for GET /no/such/route' } });
  });

  test('bad input: 400 naming the field, or saying the body is not JSON; nothing is created', async () => {
    const replicas = await app.call('POST', '/services', { body: { name: 'bad', image: 'web:1', replicas: -1 } });
    assert.equal(replicas.status, 400);
    assert.equal(replicas.body.error.code, 'INVALID_ARGUMENT');
    assert.match(replicas.body.error.message, /^replicas: /);

    const image = await app.call('POST', '/services', { body: { name: 'bad', replicas: 1 } });
    assert.equal(image.status, 400);
    assert.match(image.body.error.message, /image/);

    const json = await app.call('POST', '/services', { raw: '{"name": "bad",' });
    assert.equal(json.status, 400);
    assert.equal(json.body.error.code, 'INVALID_JSON');

    assert.equal((await app.call('GET', '/services/bad')).status, 404);
  });
});

describe('the REST app on the loopback, auth required', () => {
  const opened = clusterDb([{ id: 'n1', name: 'host-1' }], 'n1');
  const app = appOver(opened.db, 'required');
  before(() => app.start());
  after(() => {
    app.stop();
    opened.close();
  });

  test('even a loopback client needs a token; the health check does not', async () => {
    const refused = await app.call('GET', '/services');
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'UNAUTHENTICATED');
    assert.match(refused.body.error.message, /^GET \/services needs an API token/);
    assert.equal((await app.call('GET', '/services', { token: token(opened.db, 'ops', 'operator') })).status, 200);
    assert.equal((await app.call('GET', '/healthz')).status, 200);
  });
});
