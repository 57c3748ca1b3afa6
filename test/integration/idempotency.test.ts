import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { TEST_IMAGE } from '../helpers/docker';
import { api, call } from '../helpers/api';

/** docs/rest.md, "Retries and Idempotency-Key": a write sent twice under one key applies once and answers alike. */
describe('Idempotency-Key: a retried write applies once', () => {
  let daemon: TestDaemon;
  const key = (name: string) => ({ 'idempotency-key': `${name}-${process.pid}` });

  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    await daemon.stop();
  });

  const web = { name: 'idem-web', image: TEST_IMAGE, replicas: 1, command: ['sleep', '3600'] };

  test('the same POST with the same key twice answers 201 both times, and there is one service', async () => {
    const first = await call(daemon.url, 'POST', '/services', web, key('create'));
    const second = await call(daemon.url, 'POST', '/services', web, key('create'));
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(second.status, 201, JSON.stringify(second.body));
    assert.equal(second.body.id, first.body.id, 'the same service both times');
    assert.equal(second.body.name, 'idem-web');
    const services = (await api(daemon.url).get('/services')).body.services.filter((s: { name: string }) => s.name === 'idem-web');
    assert.equal(services.length, 1);
    assert.equal(services[0].version, 1);
  });

  test('without a key the same POST again is a new request, refused 409', async () => {
    const again = await api(daemon.url).post('/services', web);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'SERVICE_EXISTS');
  });

  test('the same key with a different body is refused 422 naming the key, and writes nothing', async () => {
    const other = await call(daemon.url, 'POST', '/services', { ...web, name: 'idem-other' }, key('create'));
    assert.equal(other.status, 422, JSON.stringify(other.body));
    assert.equal(other.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.ok(other.body.error.message.includes(`Idempotency-Key create-${process.pid}`), other.body.error.message);
    assert.match(other.body.error.message, /POST \/services with another body/);
    assert.equal((await api(daemon.url).get('/services/idem-other')).status, 404);
  });

  test('a PATCH with a key sent twice bumps the version once', async () => {
    const first = await call(daemon.url, 'PATCH', '/services/idem-web', { env: { ROUND: '1' } }, key('patch'));
    const second = await call(daemon.url, 'PATCH', '/services/idem-web', { env: { ROUND: '1' } }, key('patch'));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const now = (await api(daemon.url).get('/services/idem-web')).body;
    assert.equal(now.version, 2, 'one bump, not two');
    assert.equal(now.specVersion, 2);
    assert.deepEqual(now.env, { ROUND: '1' });
  });

  test('a malformed key is refused 400 naming the header', async () => {
    const bad = await call(daemon.url, 'POST', '/services', { ...web, name: 'idem-bad' }, { 'idempotency-key': 'x'.repeat(201) });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^Idempotency-Key: /);
  });

  test('a DELETE with a key sent twice answers 202 both times', async () => {
    const first = await call(daemon.url, 'DELETE', '/services/idem-web', undefined, key('delete'));
    const second = await call(daemon.url, 'DELETE', '/services/idem-web', undefined, key('delete'));
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(second.status, 202, JSON.stringify(second.body));
  });
});
