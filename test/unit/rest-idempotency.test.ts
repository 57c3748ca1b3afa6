import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { RestContext } from '../../modules/context';
import { serveApp, stubRestContext } from '../helpers/rest-context';
import { openDatabase } from '../../database/open-database';
import { getService, listServices } from '../../database/queries';
import type { Command } from '../../database/commands';
import type { ApplyResult } from '../../database/apply-command';
import { SqliteStateMachine } from '../../daemon/voting/state-machine';

/**
 * The REST API over a real state machine (no Raft, no threads): every
 * proposal is the next log entry. `lose(n)` makes the next n proposals
 * behave as a forward whose answer was lost after the leader committed it:
 * the entry is applied, and the REST thread's retry proposes it again.
 */
const db = openDatabase(':memory:', { migrate: true });
const machine = new SqliteStateMachine(db);
const proposed: Command[] = [];
let index = 0;
let losing = 0;

function apply(command: Command): ApplyResult {
  proposed.push(command);
  index++;
  return machine.apply([{ index, term: 1, type: 'normal', data: JSON.stringify(command) }]).results.get(index)!;
}

const ctx: RestContext = stubRestContext(db, {
  async propose(command) {
    if (losing > 0) {
      losing--;
      apply(command);
    }
    return apply(command);
  },
  voting: { readBarrier: async () => index, join: async () => { throw new Error('not in this test'); }, changeMembership: async () => undefined, raw: async () => ({ ok: true }) },
});

let server: Server;
let base = '';
before(async () => {
  ({ server, base } = await serveApp(ctx));
});
after(() => server.close());

async function call(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: Record<string, any> }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key !== undefined) headers['idempotency-key'] = key;
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const service = (name: string, replicas = 1) => ({ name, image: 'bicycle/busybox:test', replicas });

describe('REST writes apply once', () => {
  test('a create whose answer was lost after it committed answers 201 on the retry, not 409, and creates one service', async () => {
    losing = 1;
    const created = await call('POST', '/services', service('lost'));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.name, 'lost');
    const [first, retry] = proposed.slice(-2);
    assert.equal(first!.request?.id, retry!.request?.id, 'the retry carries the request id of the first attempt');
    assert.equal(listServices(db).filter((s) => s.name === 'lost').length, 1);
  });

  test('an update whose answer was lost bumps the version once', async () => {
    losing = 1;
    const patched = await call('PATCH', '/services/lost', { replicas: 3 });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(getService(db, 'lost')?.version, 2);
  });

  test('two requests without a key are two requests', async () => {
    await call('POST', '/services', service('twice'));
    const again = await call('POST', '/services', service('twice'));
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'SERVICE_EXISTS');
  });

  test('the same POST with the same Idempotency-Key twice answers 201 both times, with one service', async () => {
    const first = await call('POST', '/services', service('keyed', 2), 'create-keyed-1');
    const second = await call('POST', '/services', service('keyed', 2), 'create-keyed-1');
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(second.status, 201, JSON.stringify(second.body));
    assert.equal(second.body.id, first.body.id, 'the same service');
    assert.equal(second.body.version, 1);
    assert.equal(listServices(db).filter((s) => s.name === 'keyed').length, 1);
  });

  test('the same key with a different request is refused 422 naming the key, and writes nothing', async () => {
    const before = proposed.length;
    const other = await call('POST', '/services', service('other', 2), 'create-keyed-1');
    assert.equal(other.status, 422);
    assert.equal(other.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.match(other.body.error.message, /Idempotency-Key create-keyed-1 was already used for POST \/services with another body/);
    assert.equal(getService(db, 'other'), undefined);
    assert.equal(proposed.length, before, 'nothing proposed');
    const elsewhere = await call('PATCH', '/services/keyed', { replicas: 5 }, 'create-keyed-1');
    assert.equal(elsewhere.status, 422);
    assert.match(elsewhere.body.error.message, /already used for POST \/services;/);
    assert.equal(getService(db, 'keyed')?.replicas, 2);
  });

  test('a PATCH with a key applied twice bumps the version once', async () => {
    const first = await call('PATCH', '/services/keyed', { replicas: 4 }, 'scale-keyed-1');
    const second = await call('PATCH', '/services/keyed', { replicas: 4 }, 'scale-keyed-1');
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(second.body.version, 2);
    assert.equal(getService(db, 'keyed')?.version, 2);
  });

  test('a DELETE with a key retried after the service is gone answers 202, not 404', async () => {
    await call('POST', '/services', service('gone'));
    const first = await call('DELETE', '/services/gone', undefined, 'delete-gone-1');
    assert.equal(first.status, 202);
    // The orchestrator finishes the deletion.
    apply({ type: 'service.set-state', name: 'gone', state: 'DELETING', version: getService(db, 'gone')!.version, at: 1 });
    apply({ type: 'service.remove', name: 'gone', at: 1 });
    const retry = await call('DELETE', '/services/gone', undefined, 'delete-gone-1');
    assert.equal(retry.status, 202, JSON.stringify(retry.body));
    assert.equal(retry.body.state, 'DELETED');
    const fresh = await call('DELETE', '/services/gone', undefined, 'delete-gone-2');
    assert.equal(fresh.status, 404, 'a new request for a service that is gone is still a 404');
  });

  test('a malformed key is refused 400 naming the header', async () => {
    const bad = await call('POST', '/services', service('badkey'), 'has space');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^Idempotency-Key: /);
    assert.equal(getService(db, 'badkey'), undefined);
  });
});
