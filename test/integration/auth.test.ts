import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type Router from '@koa/router';
import { createApp } from '../../modules/app';
import { routeAccess, type Access } from '../../modules/auth-policy';
import { openDatabase } from '../../database/open-database';
import { stubRestContext } from '../helpers/rest-context';
import { daemonPath, removeDataDir, startDaemon, type TestDaemon } from '../helpers/daemon';
import { spawnSync } from 'node:child_process';

/**
 * Every route the REST app serves × (no token, a malformed one, an unknown
 * one, an expired one, read, operator, admin) → the status a client gets,
 * on a real bicycled listening on this machine's non-loopback address
 * (where a token is always needed), and on its loopback listener (where it
 * is not, unless auth is "required").
 */

/** A non-loopback IPv4 address of this machine: the daemon listens there as it would on a LAN. */
function lanAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this test needs a non-loopback IPv4 address on this machine (none found)');
}

/** `GET /services/:name` for every method of every layer of every router the app uses (HEAD is koa-router's own for each GET). */
function servedRoutes(): Array<{ method: string; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bicycle-auth-routes-'));
  const db = openDatabase(join(dir, 'db.sqlite'), { migrate: true });
  try {
    const app = createApp(stubRestContext(db));
    const routers = app.middleware.map((m) => (m as { router?: Router }).router).filter((r): r is Router => r !== undefined);
    const out = new Map<string, { method: string; path: string }>();
    for (const router of routers) {
      for (const layer of router.stack) for (const method of layer.methods) if (method !== 'HEAD') out.set(`${method} ${layer.path}`, { method, path: String(layer.path) });
    }
    return [...out.values()];
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The access each route must have: written out here, not derived from the
 * policy, so a route added to a router fails this test until someone says
 * who may call it.
 */
const EXPECTED: Record<string, Access> = {
  'GET /services': 'read',
  'POST /services': 'operator',
  'GET /services/:name': 'read',
  'PATCH /services/:name': 'operator',
  'DELETE /services/:name': 'operator',
  'GET /services/:name/tasks': 'read',
  'POST /services/:name/rollback': 'operator',
  'GET /services/:name/history': 'read',
  'POST /services/:name/rebalance': 'operator',
  'POST /rebalance': 'operator',
  'GET /services/:name/logs': 'operator',
  'GET /nodes': 'read',
  'GET /nodes/:id': 'read',
  'PATCH /nodes/:id': 'admin',
  'DELETE /nodes/:id': 'admin',
  'POST /nodes/:id/promote': 'admin',
  'POST /nodes/:id/demote': 'admin',
  'GET /state': 'read',
  'GET /healthz': 'public',
  'GET /logs': 'operator',
  'GET /events': 'read',
  'GET /cluster/join-token': 'admin',
  'POST /cluster/join-token': 'admin',
  'POST /cluster/raft': 'node',
  'POST /cluster/voting': 'node',
  'POST /cluster/session': 'node',
  'POST /cluster/join': 'node',
  'GET /cluster/join': 'node',
  'GET /cluster/logs/:containerId': 'node',
  'GET /cluster/snapshot/:id': 'node',
  'POST /cluster/snapshot/:id': 'node',
  'GET /tokens': 'admin',
  'POST /tokens': 'admin',
  'DELETE /tokens/:id': 'admin',
  'GET /audit': 'admin',
  'GET /auth/self': 'read',
  'GET /debug/links': 'admin',
  'POST /debug/links': 'admin',
  'GET /node/lock': 'read',
  'POST /node/unlock': 'admin',
  'GET /secrets': 'admin',
  'GET /secrets/:name': 'admin',
  'POST /secrets': 'admin',
  'PATCH /secrets/:name': 'admin',
  'DELETE /secrets/:name': 'admin',
  'GET /metrics': 'read',
  'GET /openapi.json': 'read',
};

type Credential = 'none' | 'malformed' | 'unknown' | 'expired' | 'read' | 'operator' | 'admin';
const CREDENTIALS: Credential[] = ['none', 'malformed', 'unknown', 'expired', 'read', 'operator', 'admin'];
const RANK = { read: 0, operator: 1, admin: 2 } as const;

function expectedStatus(access: Access, credential: Credential): 'allowed' | 401 | 403 {
  if (access === 'public') return 'allowed';
  if (credential === 'none' || credential === 'malformed' || credential === 'unknown' || credential === 'expired') return 401;
  return RANK[credential] >= RANK[access as keyof typeof RANK] ? 'allowed' : 403;
}

/** A concrete path for a route: parameters name things that do not exist, so an allowed request changes nothing. */
function concrete(path: string): string {
  return path.replace(/:[A-Za-z]+/g, 'no-such-thing');
}

/** The status of one request; a stream (events, logs) is closed as soon as its headers came. */
async function statusOf(base: string, method: string, path: string, token: string | undefined): Promise<number> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (method !== 'GET') headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: method === 'GET' ? undefined : '{}', signal: AbortSignal.timeout(10_000) });
  await res.body?.cancel();
  return res.status;
}

describe('API tokens and roles on a real daemon off loopback', () => {
  let daemon: TestDaemon;
  let lan: string;
  let local: string;
  const tokens: Partial<Record<Credential, string>> = {};

  before(async () => {
    daemon = await startDaemon({ host: lanAddress(), env: { BICYCLE_INSECURE: 'true' } });
    lan = daemon.url;
    local = `http://127.0.0.1:${new URL(lan).port}`;
    // The loopback listener needs no token: tokens for each role are made there.
    const make = async (name: string, role: string, ttlSeconds?: number) => {
      const res = await fetch(`${local}/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, role, ttlSeconds }) });
      assert.equal(res.status, 201, await res.clone().text());
      return ((await res.json()) as { token: string }).token;
    };
    tokens.read = await make('reader', 'read');
    tokens.operator = await make('deployer', 'operator');
    tokens.admin = await make('root', 'admin');
    tokens.expired = await make('short', 'read', 1);
    tokens.malformed = 'not-a-token';
    // Shaped like a token, known accessor, wrong secret.
    tokens.unknown = tokens.admin.replace(/-[A-Za-z0-9_-]{43}$/, `-${'A'.repeat(43)}`);
    await new Promise((r) => setTimeout(r, 1100));
  });

  after(async () => {
    await daemon?.stop();
    if (daemon) removeDataDir(daemon.dataDir);
  });

  test('the route table covers every route the routers serve, and only those', () => {
    const served = servedRoutes().map((r) => `${r.method} ${r.path}`).sort();
    assert.deepEqual(served, Object.keys(EXPECTED).sort(), 'a route was added or removed: say who may call it in EXPECTED (and modules/auth-policy.ts)');
    for (const route of served) {
      const [method, path] = route.split(' ') as [string, string];
      assert.equal(routeAccess(method, concrete(path)), EXPECTED[route], `${route}: the policy and the table disagree`);
    }
  });

  test('every route × every credential answers the status its role allows', async () => {
    const failures: string[] = [];
    let requests = 0;
    for (const { method, path } of servedRoutes()) {
      const access = EXPECTED[`${method} ${path}`]!;
      const seen = new Set<number>();
      for (const credential of CREDENTIALS) {
        const status = await statusOf(lan, method, concrete(path), credential === 'none' ? undefined : tokens[credential]);
        requests++;
        seen.add(status);
        if (access === 'node') continue;
        const expected = expectedStatus(access, credential);
        const ok = expected === 'allowed' ? status !== 401 && status !== 403 : status === expected;
        if (!ok) failures.push(`${method} ${path} with ${credential}: ${status}, expected ${expected}`);
      }
      // Node-to-node routes keep their own authentication: a user's token, good or bad, changes nothing.
      if (access === 'node' && seen.size !== 1) failures.push(`${method} ${path}: answers depend on the user token (${[...seen].join(', ')})`);
      if (access === 'node' && !path.startsWith('/cluster/join') && !seen.has(401)) failures.push(`${method} ${path}: a user token is not the cluster secret, expected 401, got ${[...seen].join(', ')}`);
    }
    assert.deepEqual(failures, []);
    assert.ok(requests >= 200, `expected every route × credential, made ${requests} requests`);
  });

  test('401 and 403 answers say what to do', async () => {
    const none = await fetch(`${lan}/services`);
    assert.equal(none.status, 401);
    const noneBody = (await none.json()) as { error: { code: string; message: string } };
    assert.equal(noneBody.error.code, 'UNAUTHENTICATED');
    assert.match(noneBody.error.message, /needs an API token: send Authorization: Bearer <token>/);
    const expired = (await (await fetch(`${lan}/services`, { headers: { authorization: `Bearer ${tokens.expired}` } })).json()) as { error: { message: string } };
    assert.match(expired.error.message, /the token short expired at .*: ask an admin for a new one/);
    const denied = await fetch(`${lan}/nodes/x`, { method: 'PATCH', headers: { authorization: `Bearer ${tokens.operator}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(denied.status, 403);
    const deniedBody = (await denied.json()) as { error: { code: string; message: string } };
    assert.equal(deniedBody.error.code, 'PERMISSION_DENIED');
    assert.equal(deniedBody.error.message, 'the token deployer has the role operator; PATCH /nodes/x needs admin: ask an admin for a token with that role');
  });

  test('on the loopback listener no token is needed, and a bad one given is still refused', async () => {
    assert.equal((await fetch(`${local}/nodes`)).status, 200);
    assert.equal((await fetch(`${local}/cluster/join-token`)).status, 200);
    assert.equal((await fetch(`${local}/nodes`, { headers: { authorization: 'Bearer not-a-token' } })).status, 401);
  });

  test('token ls never shows a secret; a removed token is refused at once', async () => {
    const admin = { authorization: `Bearer ${tokens.admin}` };
    const list = await (await fetch(`${lan}/tokens`, { headers: admin })).text();
    // The secret is all after the accessor: base64url, which may itself hold a '-'.
    for (const t of [tokens.read!, tokens.operator!, tokens.admin!]) assert.ok(!list.includes(t.split('-').slice(2).join('-')), 'a secret in GET /tokens');
    assert.doesNotMatch(list, /secret|hash/i);
    const made = (await (await fetch(`${lan}/tokens`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'temp', role: 'read' }) })).json()) as { token: string };
    assert.equal((await fetch(`${lan}/state`, { headers: { authorization: `Bearer ${made.token}` } })).status, 200);
    assert.equal((await fetch(`${lan}/tokens/temp`, { method: 'DELETE', headers: admin })).status, 200);
    assert.equal((await fetch(`${lan}/state`, { headers: { authorization: `Bearer ${made.token}` } })).status, 401);
  });

  test('the audit log records every write, allowed or refused, and no read', async () => {
    const before = Date.now();
    await fetch(`${lan}/rebalance`, { method: 'POST' });
    await fetch(`${lan}/rebalance`, { method: 'POST', headers: { authorization: `Bearer ${tokens.read}` } });
    await fetch(`${lan}/services/web`, { method: 'DELETE', headers: { authorization: `Bearer ${tokens.operator}` } });
    await fetch(`${lan}/state`, { headers: { authorization: `Bearer ${tokens.operator}` } });
    const res = await fetch(`${lan}/audit?since=${before}`, { headers: { authorization: `Bearer ${tokens.admin}` } });
    assert.equal(res.status, 200);
    const records = ((await res.json()) as { records: Array<{ actor: string; method: string; path: string; target: string | null; status: number; source: string }> }).records;
    const seen = records.map((r) => `${r.actor} ${r.method} ${r.path} ${r.target ?? '-'} ${r.status}`);
    assert.deepEqual(seen, ['anonymous POST /rebalance - 401', 'reader POST /rebalance - 403', 'deployer DELETE /services/web web 404']);
    assert.ok(records.every((r) => r.source === new URL(lan).hostname), JSON.stringify(records));
  });
});

/** Asks `url` with `token` until it answers `want` or `timeoutMs` passes; the last status. */
async function statusWithin(url: string, token: string, want: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;
    if (status === want || Date.now() > deadline) return status;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('auth: "required"', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startDaemon({ env: { BICYCLE_AUTH: 'required' } });
  });
  after(async () => {
    await daemon?.stop();
    if (daemon) removeDataDir(daemon.dataDir);
  });

  test('even a loopback client needs a token; the one --init printed works, and `bicycled token bootstrap` mints another', async () => {
    assert.equal((await fetch(`${daemon.url}/state`)).status, 401);
    assert.equal((await fetch(`${daemon.url}/healthz`)).status, 200);
    const printed = /bicycled: admin token (BAT1-\S+)/.exec(daemon.output())?.[1];
    assert.ok(printed, `--init printed no token:\n${daemon.output()}`);
    // Valid once this node's REST thread has proposed it and it committed: a moment after the start.
    assert.equal(await statusWithin(`${daemon.url}/state`, printed, 200, 5000), 200);
    // Never in the daemon's log file.
    const { readFileSync, readdirSync } = await import('node:fs');
    for (const file of readdirSync(daemon.dataDir).filter((f) => f.endsWith('.log'))) assert.ok(!readFileSync(join(daemon.dataDir, file), 'utf8').includes(printed), `${file} holds the token`);
  });

  test('`bicycled token bootstrap --data-dir` mints an admin token the running daemon takes within seconds', async () => {
    const run = spawnSync(process.execPath, [daemonPath(), 'token', 'bootstrap', '--data-dir', daemon.dataDir, '--name', 'recovered'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const token = run.stdout.trim();
    assert.match(token, /^BAT1-[0-9a-f]{16}-[A-Za-z0-9_-]{43}$/);
    assert.match(run.stderr, /admin token recovered minted \(shown only now\)/);
    assert.equal(await statusWithin(`${daemon.url}/tokens`, token, 200, 5000), 200);
    const missing = spawnSync(process.execPath, [daemonPath(), 'token', 'bootstrap', '--data-dir', join(daemon.dataDir, 'nope')], { encoding: 'utf8' });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /does not exist: --data-dir must be the data directory of a node that has run bicycled/);
  });
});
