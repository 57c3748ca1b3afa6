import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, type Db } from '../../database/open-database';
import { getService, listServices } from '../../database/queries';
import { REQUEST_MEMORY_ENTRIES, lookupRequest } from '../../database/applied-requests';
import type { Command, RequestTag, ServiceSpec } from '../../database/commands';
import { SqliteStateMachine } from '../../daemon/voting/state-machine';
import type { Entry, Snapshot } from '../../daemon/voting/raft/index';

/**
 * Exactly once (Raft thesis §6.3): a retried request is a second log entry
 * with the same request id; the state machine applies the first and answers
 * the second with the first's result.
 */

const AT = 1_700_000_000_000;
const spec: ServiceSpec = { image: 'nginx:1.27', command: null, env: {}, labels: {}, ports: [] };

function machine(): { db: Db; sm: SqliteStateMachine } {
  const db = openDatabase(':memory:', { migrate: true });
  return { db, sm: new SqliteStateMachine(db) };
}

function entry(index: number, command: Command): Entry {
  return { index, term: 1, type: 'normal', data: JSON.stringify(command) };
}

function create(request?: RequestTag, name = 'web', id = `svc-${Math.random()}`): Command {
  return { type: 'service.create', id, name, spec, replicas: 2, at: AT, ...(request ? { request } : {}) };
}

function scale(replicas: number, request?: RequestTag): Command {
  return { type: 'service.update', name: 'web', changes: { replicas }, at: AT, ...(request ? { request } : {}) };
}

const tag = (id: string, fingerprint = 'POST /services sha256:aa'): RequestTag => ({ id, fingerprint });

describe('applied requests: a request id takes effect once', () => {
  test('the same create applied twice creates one service, and the second answer is the first result', () => {
    const { db, sm } = machine();
    const first = sm.apply([entry(1, create(tag('r1')))]).results.get(1);
    const second = sm.apply([entry(2, create(tag('r1')))]).results.get(2);
    assert.deepEqual(first, { ok: true, changed: true });
    assert.deepEqual(second, first, 'the retry answers what the request first got, not SERVICE_EXISTS');
    assert.equal(listServices(db).length, 1);
    assert.equal(sm.appliedIndex(), 2);
  });

  test('without a request id a repeated create is refused, as before', () => {
    const { sm } = machine();
    sm.apply([entry(1, create())]);
    const again = sm.apply([entry(2, create())]).results.get(2);
    assert.equal(again?.ok, false);
    assert.equal(again?.ok === false && again.error.code, 'SERVICE_EXISTS');
  });

  test('an update applied twice bumps the version once', () => {
    const { db, sm } = machine();
    sm.apply([entry(1, create()), entry(2, scale(5, tag('p1', 'PATCH /services/web sha256:bb'))), entry(3, scale(5, tag('p1', 'PATCH /services/web sha256:bb')))]);
    assert.equal(getService(db, 'web')?.version, 2);
    assert.equal(getService(db, 'web')?.replicas, 5);
  });

  test('a retry in the same batch as the first is answered the same', () => {
    const { sm } = machine();
    const { results } = sm.apply([entry(1, create(tag('r1'))), entry(2, create(tag('r1')))]);
    assert.deepEqual(results.get(2), results.get(1));
  });

  test('a first refusal is remembered too: the retry gets the same refusal', () => {
    const { sm } = machine();
    sm.apply([entry(1, create(undefined, 'web'))]);
    const first = sm.apply([entry(2, create(tag('r2')))]).results.get(2);
    assert.equal(first?.ok === false && first.error.code, 'SERVICE_EXISTS');
    assert.deepEqual(sm.apply([entry(3, create(tag('r2')))]).results.get(3), first);
  });

  test('the same id with another fingerprint is refused, naming the key and the first request, and changes nothing', () => {
    const { db, sm } = machine();
    sm.apply([entry(1, create({ id: 'key:k1', key: 'k1', fingerprint: 'POST /services sha256:aa' }))]);
    const other = sm.apply([entry(2, { ...scale(7), request: { id: 'key:k1', key: 'k1', fingerprint: 'PATCH /services/web sha256:cc' } })]).results.get(2);
    assert.equal(other?.ok, false);
    assert.equal(other?.ok === false && other.error.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(other?.ok === false && other.error.message, 'Idempotency-Key k1 was already used for POST /services; a different request needs a new key');
    assert.equal(getService(db, 'web')?.replicas, 2);
    const sameRoute = sm.apply([entry(3, create({ id: 'key:k1', key: 'k1', fingerprint: 'POST /services sha256:dd' }, 'api'))]).results.get(3);
    assert.match(sameRoute?.ok === false ? sameRoute.error.message : '', /POST \/services with another body/);
    assert.equal(getService(db, 'api'), undefined);
  });

  test('an entry applied again after a crash (index already applied) is skipped, not deduplicated', () => {
    const { sm } = machine();
    sm.apply([entry(1, create(tag('r1')))]);
    const again = sm.apply([entry(1, create(tag('r1')))]);
    assert.equal(again.results.size, 0);
  });

  test('survives a snapshot and its restore on another node', () => {
    const leader = machine();
    leader.sm.apply([entry(1, create(tag('r1'))), entry(2, scale(4, tag('p1')))]);
    const snapshot: Snapshot = { meta: { index: 2, term: 1, conf: { voters: ['a'], learners: [] } }, data: leader.sm.snapshotData() };
    const follower = machine();
    follower.sm.restore(snapshot);
    assert.equal(follower.sm.appliedIndex(), 2);
    const { results } = follower.sm.apply([entry(3, create(tag('r1'))), entry(4, scale(4, tag('p1')))]);
    assert.deepEqual(results.get(3), { ok: true, changed: true });
    assert.deepEqual(results.get(4), { ok: true, changed: true });
    assert.equal(getService(follower.db, 'web')?.version, 2, 'the update took effect once');
    assert.equal(lookupRequest(follower.db, tag('r1'), 4).seen, 'same');
  });

  test('a snapshot from before the table existed restores with no ids remembered', () => {
    const leader = machine();
    leader.sm.apply([entry(1, create(tag('r1')))]);
    const data = JSON.parse(leader.sm.snapshotData()) as Record<string, unknown>;
    delete data.applied_requests;
    const follower = machine();
    follower.sm.restore({ meta: { index: 1, term: 1, conf: { voters: ['a'], learners: [] } }, data: JSON.stringify(data) });
    assert.equal(listServices(follower.db).length, 1);
    assert.equal(lookupRequest(follower.db, tag('r1'), 1).seen, 'new');
  });

  test(`bounded: an id is remembered for ${REQUEST_MEMORY_ENTRIES} log entries, then forgotten and its row dropped`, () => {
    const { db, sm } = machine();
    sm.apply([entry(1, create()), entry(2, scale(3, tag('p1')))]);
    // Within the window (index 2 + N - 1): still the first result, no effect.
    sm.apply([entry(2 + REQUEST_MEMORY_ENTRIES - 1, scale(3, tag('p1')))]);
    assert.equal(getService(db, 'web')?.version, 2);
    const rows = () => (db.prepare('SELECT COUNT(*) AS n FROM applied_requests').get() as { n: number }).n;
    assert.equal(rows(), 1);
    // Past it: a new request. Apply a change first so the replay would show.
    sm.apply([entry(2 + REQUEST_MEMORY_ENTRIES, scale(9))]);
    assert.equal(rows(), 0, 'pruned once it left the window');
    sm.apply([entry(3 + REQUEST_MEMORY_ENTRIES, scale(3, tag('p1')))]);
    assert.equal(getService(db, 'web')?.replicas, 3);
    assert.equal(getService(db, 'web')?.version, 4);
  });

  test('the window is a function of the log, not of when rows are pruned: a stale row is ignored', () => {
    const { db, sm } = machine();
    sm.apply([entry(1, create()), entry(2, scale(3, tag('p1')))]);
    // As if pruning had not run yet: the row is still there, but the entry is out of the window.
    const { results } = sm.apply([entry(2 + REQUEST_MEMORY_ENTRIES, scale(3, tag('p1')))]);
    assert.deepEqual(results.get(2 + REQUEST_MEMORY_ENTRIES), { ok: true, changed: false }, 'applied (no change: replicas already 3), not replayed');
    assert.equal((db.prepare('SELECT log_index FROM applied_requests').get() as { log_index: number }).log_index, 2 + REQUEST_MEMORY_ENTRIES);
  });

  test('lookupRequest tells new, same and different', () => {
    const { db, sm } = machine();
    sm.apply([entry(1, create(tag('r1')))]);
    assert.deepEqual(lookupRequest(db, tag('r9'), 1), { seen: 'new' });
    assert.deepEqual(lookupRequest(db, tag('r1'), 1), { seen: 'same' });
    assert.deepEqual(lookupRequest(db, tag('r1', 'POST /services sha256:zz'), 1), { seen: 'different', first: 'POST /services sha256:aa' });
  });
});
