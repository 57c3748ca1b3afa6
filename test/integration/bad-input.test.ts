import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { TEST_IMAGE } from '../helpers/docker';
import { api, call } from '../helpers/api';

describe('bad input is refused with a message naming the problem, and nothing stored changes', () => {
  let daemon: TestDaemon;
  let stored: string;
  const snapshot = async () => JSON.stringify((await api(daemon.url).get('/services')).body.services.map((s: any) => ({ ...s, running: undefined, taskCounts: undefined, error: undefined, state: undefined, updatedAt: undefined })));

  before(async () => {
    daemon = await startDaemon();
    const res = await api(daemon.url).post('/services?wait=true&timeout=30', { name: 'keep', image: TEST_IMAGE, replicas: 1, command: ['sleep', '3600'] });
    assert.equal(res.status, 201);
    stored = await snapshot();
  });
  after(async () => {
    assert.equal(await snapshot(), stored, 'the stored services are unchanged');
    await daemon.stop();
  });

  const cases: Array<[string, unknown, number, RegExp]> = [
    ['missing image', { name: 'a', replicas: 1 }, 400, /image/],
    ['replicas -1', { name: 'a', image: TEST_IMAGE, replicas: -1 }, 400, /replicas/],
    ['replicas "abc"', { name: 'a', image: TEST_IMAGE, replicas: 'abc' }, 400, /replicas/],
    ['replicas 1.5', { name: 'a', image: TEST_IMAGE, replicas: 1.5 }, 400, /replicas/],
    ['a name with spaces', { name: 'my web', image: TEST_IMAGE }, 400, /name/],
    ['an unknown field', { name: 'a', image: TEST_IMAGE, replica: 3 }, 400, /unknown field "replica"/],
    ['a command that is not a list', { name: 'a', image: TEST_IMAGE, command: 'sleep 1' }, 400, /command/],
    ['env with a number', { name: 'a', image: TEST_IMAGE, env: { A: 1 } }, 400, /env/],
    ['a reserved label', { name: 'a', image: TEST_IMAGE, labels: { 'io.bicycle.task': 'x' } }, 400, /reserved/],
    ['a JSON array', [1, 2], 400, /JSON object/],
    ['a duplicate name', { name: 'keep', image: TEST_IMAGE }, 409, /already exists/],
    ['an env key __proto__', JSON.parse('{"name":"a","image":"bicycle/busybox:test","env":{"__proto__":"x"}}'), 400, /env\.__proto__: "__proto__" is not accepted/],
    ['a 65,537-character argument', { name: 'a', image: TEST_IMAGE, command: ['echo', 'x'.repeat(65_537)] }, 400, /command\.1: each argument must be at most 65536 characters/],
  ];
  for (const [what, body, status, message] of cases) {
    test(`POST /services with ${what} → ${status}`, async () => {
      const res = await api(daemon.url).post('/services', body);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.match(res.body.error.message, message);
      assert.equal(typeof res.body.error.code, 'string');
    });
  }

  test('invalid JSON → 400 INVALID_JSON', async () => {
    const res = await call(daemon.url, 'POST', '/services', '{"name": "a", ', { 'content-type': 'application/json' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'INVALID_JSON');
    assert.match(res.body.error.message, /not valid JSON/);
  });

  test('a 5 MB body → 413', async () => {
    const big = JSON.stringify({ name: 'big', image: TEST_IMAGE, env: { X: 'x'.repeat(5 * 1024 * 1024) } });
    const res = await call(daemon.url, 'POST', '/services', big, { 'content-type': 'application/json' }).catch((error: Error) => ({ status: 0, body: error.message }));
    // The server answers 413 as soon as the declared length is over the limit.
    assert.equal(res.status, 413, JSON.stringify(res.body).slice(0, 200));
    assert.match((res.body as any).error.message, /larger than the limit/);
  });

  test('PATCH with bad replicas, an unknown field, or nothing → 400; unknown service → 404', async () => {
    const bad = await api(daemon.url).patch('/services/keep', { replicas: 'many' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /replicas/);
    const unknown = await api(daemon.url).patch('/services/keep', { replicas: 2, colour: 'red' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error.message, /colour/);
    const empty = await api(daemon.url).patch('/services/keep', {});
    assert.equal(empty.status, 400);
    const missing = await api(daemon.url).patch('/services/nope', { replicas: 2 });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'SERVICE_NOT_FOUND');
  });

  test('GET and DELETE of an unknown service → 404; an unknown route → 404; bad query → 400', async () => {
    assert.equal((await api(daemon.url).get('/services/nope')).status, 404);
    assert.equal((await api(daemon.url).delete('/services/nope')).status, 404);
    const route = await api(daemon.url).get('/nothing-here');
    assert.equal(route.status, 404);
    assert.match(route.body.error.message, /no route/);
    const query = await api(daemon.url).post('/services?wait=maybe', { name: 'q', image: TEST_IMAGE });
    assert.equal(query.status, 400);
    assert.match(query.body.error.message, /wait/);
    for (const tail of ['0x10', '1e3', ' 12']) {
      const res = await api(daemon.url).get(`/services/keep/logs?tail=${encodeURIComponent(tail)}`);
      assert.equal(res.status, 400, `tail=${tail}`);
      assert.match(res.body.error.message, /tail: must be a whole number/);
    }
  });

  test('a method a route does not take → 405 with Allow, an unknown method → 501, both the JSON error', async () => {
    const put = await call(daemon.url, 'PUT', '/services/keep', { replicas: 2 });
    assert.equal(put.status, 405, JSON.stringify(put.body));
    assert.equal(put.body.error.code, 'METHOD_NOT_ALLOWED');
    assert.match(put.body.error.message, /\/services\/keep does not take PUT; it takes .*PATCH/);
    const res = await fetch(`${daemon.url}/services`, { method: 'PROPFIND' });
    assert.equal(res.status, 501);
    assert.equal(((await res.json()) as any).error.code, 'NOT_IMPLEMENTED');
  });
});
