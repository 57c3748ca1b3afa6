import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { RestContext } from '../../modules/context';
import { serveApp, stubRestContext } from '../helpers/rest-context';
import { openDatabase } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';

/**
 * The lifecycle routes and fields over a real database (no Raft, no
 * threads): what POST/PATCH /services show of policies and health,
 * POST /services/:name/rollback and GET /services/:name/history.
 */
const db = openDatabase(':memory:', { migrate: true });
const AT = 1_700_000_000_000;
let now = AT;
const proposed: Command[] = [];

const ctx: RestContext = stubRestContext(db, {
  async propose(command) {
    proposed.push(command);
    return applyCommand(db, command);
  },
  now: () => (now += 1000),
  lifecycleDefaults: { updateParallelism: 3, stopGracePeriodMs: 15_000 },
});

let server: Server;
let base = '';
before(async () => {
  ({ server, base } = await serveApp(ctx));
});
after(() => server.close());

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const headers: Record<string, string> = body !== undefined ? { 'content-type': 'application/json' } : {};
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('a service\'s lifecycle as the API shows it', () => {
  test('a service without lifecycle fields shows the defaults in effect, the cluster\'s parallelism and grace among them', async () => {
    const created = await call('POST', '/services', { name: 'plain', image: 'i:1', replicas: 0 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = created.body;
    assert.equal(s.healthcheck, null);
    assert.deepEqual(s.restart, { condition: 'any', delay: null, maxAttempts: 0, window: '0s' });
    assert.deepEqual(s.update, {
      parallelism: 3, delay: '0s', order: 'stop-first', monitor: '5s', maxFailureRatio: 0, failureAction: 'pause', healthyDeadline: '5m', progressDeadline: '10m',
    });
    assert.equal(s.rollback.parallelism, 3);
    assert.equal(s.stopGracePeriod, '15s');
    assert.equal(s.updateStatus, null);
    assert.equal(s.healthy, 0);
  });

  test('the fields given are shown in the API form, durations as text', async () => {
    const created = await call('POST', '/services', {
      name: 'web', image: 'i:1', replicas: 2,
      healthcheck: { test: ['CMD-SHELL', 'test -f /ok'], interval: 1500, retries: 2 },
      restart: { condition: 'on-failure', delay: '2s', maxAttempts: 4, window: '1m' },
      update: { parallelism: 1, order: 'start-first', monitor: '1m30s', failureAction: 'rollback', maxFailureRatio: 0.5 },
      rollback: { parallelism: 0 },
      stopGracePeriod: '250ms',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = created.body;
    assert.deepEqual(s.healthcheck, { test: ['CMD-SHELL', 'test -f /ok'], interval: '1.5s', timeout: '30s', retries: 2, startPeriod: '0s' });
    assert.deepEqual(s.restart, { condition: 'on-failure', delay: '2s', maxAttempts: 4, window: '1m' });
    assert.equal(s.update.order, 'start-first');
    assert.equal(s.update.monitor, '1m30s');
    assert.equal(s.update.failureAction, 'rollback');
    assert.equal(s.update.parallelism, 1);
    assert.equal(s.rollback.parallelism, 0);
    assert.equal(s.stopGracePeriod, '250ms');
  });

  test('PATCH merges a block field by field and null returns it to the defaults', async () => {
    let patched = await call('PATCH', '/services/web', { update: { delay: '10s' } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.update.delay, '10s');
    assert.equal(patched.body.update.order, 'start-first', 'the other fields stay');
    patched = await call('PATCH', '/services/web', { update: null, stopGracePeriod: null });
    assert.equal(patched.body.update.order, 'stop-first');
    assert.equal(patched.body.stopGracePeriod, '15s');
  });

  test('tasks show their health; healthy counts replicas running and healthy or without a check, beside running', async () => {
    for (const slot of [1, 2]) {
      applyCommand(db, { type: 'task.create', id: `web-${slot}`, serviceName: 'web', slot, specVersion: 1, at: AT });
    }
    applyCommand(db, { type: 'task.observe', taskId: 'web-1', state: 'RUNNING', health: 'healthy', at: AT });
    applyCommand(db, { type: 'task.observe', taskId: 'web-2', state: 'RUNNING', health: 'starting', at: AT });
    const view = (await call('GET', '/services/web')).body;
    assert.equal(view.running, 2);
    assert.equal(view.healthy, 1);
    assert.deepEqual(view.tasks.map((t: any) => t.health), ['healthy', 'starting']);
    const summary = (await call('GET', '/services')).body.services.find((s: any) => s.name === 'web');
    assert.equal(summary.running, 2);
    assert.equal(summary.healthy, 1);
    const state = (await call('GET', '/state')).body;
    assert.equal(state.services.find((s: any) => s.name === 'web').healthy, 1);
  });

  test('a rollback with no earlier version is refused 409 NO_PREVIOUS_VERSION', async () => {
    const res = await call('POST', '/services/web/rollback');
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'NO_PREVIOUS_VERSION');
  });

  test('a new image is a new version; history lists them newest first, the current one marked', async () => {
    const patched = await call('PATCH', '/services/web', { image: 'i:2' });
    assert.equal(patched.body.state, 'NEW', 'a service no pass has deployed stays NEW');
    const history = await call('GET', '/services/web/history');
    assert.equal(history.status, 200);
    assert.deepEqual(history.body.versions.map((v: any) => [v.version, v.image, v.current]), [[2, 'i:2', true], [1, 'i:1', false]]);
    assert.deepEqual(history.body.versions[1].healthcheck, { test: ['CMD-SHELL', 'test -f /ok'], interval: '1.5s', timeout: '30s', retries: 2, startPeriod: '0s' });
    assert.equal(typeof history.body.versions[0].createdAt, 'string');
  });

  test('POST /services/:name/rollback proposes service.rollback with its reason and answers the service ROLLING_BACK', async () => {
    applyCommand(db, { type: 'service.set-state', name: 'web', state: 'DEPLOYING', version: 4, at: AT });
    const res = await call('POST', '/services/web/rollback');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.state, 'ROLLING_BACK');
    assert.equal(res.body.specVersion, 1);
    assert.equal(res.body.image, 'i:1');
    assert.equal(res.body.updateStatus.kind, 'rollback');
    assert.equal(res.body.updateStatus.fromVersion, 2);
    assert.equal(res.body.updateStatus.toVersion, 1);
    assert.equal(res.body.updateStatus.message, 'rollback asked for');
    assert.equal(res.body.updateStatus.completedAt, null);
    assert.match(res.body.updateStatus.startedAt, /^\d{4}-\d\d-\d\dT/);
    const command = proposed[proposed.length - 1]!;
    assert.equal(command.type, 'service.rollback');
  });

  test('a rollback to a named version says so; one not recorded is 404 VERSION_NOT_FOUND; a bad body 400', async () => {
    const to = await call('POST', '/services/web/rollback', { version: 2 });
    assert.equal(to.status, 200, JSON.stringify(to.body));
    assert.equal(to.body.updateStatus.message, 'rollback to version 2 asked for');
    const missing = await call('POST', '/services/web/rollback', { version: 99 });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'VERSION_NOT_FOUND');
    const bad = await call('POST', '/services/web/rollback', { version: 'two' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^version: /);
    assert.equal((await call('POST', '/services/nosuch/rollback')).status, 404);
    assert.equal((await call('GET', '/services/nosuch/history')).status, 404);
  });
});
