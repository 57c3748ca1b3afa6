import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { TEST_IMAGE } from '../helpers/docker';
import { api, type Answer } from '../helpers/api';
import { JOIN_PATH, RAFT_PATH, VOTING_PATH } from '../../daemon/cluster-protocol';

/**
 * Real answers against the served GET /openapi.json: a real daemon on the
 * real engine, a few calls, and each JSON answer validated (JSON Schema
 * 2020-12) against the schema the document gives for that route and
 * status. Every object in the answers' schemas is closed, so a field an
 * answer gains without the document fails here too.
 */
describe('answers match /openapi.json', () => {
  let daemon: TestDaemon;
  let ajv: Ajv2020;

  before(async () => {
    daemon = await startDaemon();
    const served = await api(daemon.url).get('/openapi.json');
    assert.equal(served.status, 200);
    assert.match(served.body.openapi, /^3\.1\./);
    // Not a JSON Schema itself (openapi, info, paths): strict off so its other keywords are ignored, not refused.
    ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema(served.body, 'openapi.json');
  });
  after(async () => {
    const code = await daemon?.stop();
    assert.equal(code, 0, 'bicycled exits 0 on SIGTERM');
  });

  /** The JSON pointer of an answer's schema in the document: /paths/~1services~1{name}/get/responses/200/… */
  const pointer = (path: string, method: string, status: number) =>
    ['paths', path, method, 'responses', String(status), 'content', 'application/json', 'schema']
      .map((segment) => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1')))
      .join('/');

  /** Asserts the answer has `status` and its body validates against the document's schema for (path, method, status). */
  function check(answer: Answer, path: string, method: string, status: number): void {
    assert.equal(answer.status, status, `${method.toUpperCase()} ${path}: ${JSON.stringify(answer.body)}`);
    const validate = ajv.compile({ $ref: `openapi.json#/${pointer(path, method, status)}` });
    assert.ok(validate(answer.body), `${method.toUpperCase()} ${path} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(answer.body, null, 1)}`);
  }

  test('create, read, list, update and delete a service', async () => {
    const client = api(daemon.url);
    check(await client.post('/services?wait=true&timeout=30', { name: 'doc', image: TEST_IMAGE, replicas: 2, command: ['sleep', '3600'], ports: [] }), '/services', 'post', 201);
    const one = await client.get('/services/doc');
    check(one, '/services/{name}', 'get', 200);
    assert.equal(one.body.running, 2);
    check(await client.get('/services'), '/services', 'get', 200);
    check(await client.get('/services?tasks=true'), '/services', 'get', 200);
    check(await client.get('/services/doc/tasks?limit=1'), '/services/{name}/tasks', 'get', 200);
    check(await client.patch('/services/doc?wait=true&timeout=30', { replicas: 1, env: { A: 'b' } }), '/services/{name}', 'patch', 200);
    check(await client.get('/services/doc/history'), '/services/{name}/history', 'get', 200);
    check(await client.get('/nodes'), '/nodes', 'get', 200);
    check(await client.get('/healthz'), '/healthz', 'get', 200);
    const state = await client.get('/state');
    check(state, '/state', 'get', 200);
    assert.ok(state.body.containers.length >= 1, 'the state lists the running container');
    check(await client.delete('/services/doc?wait=true&timeout=30'), '/services/{name}', 'delete', 200);
  });

  test('errors: 400 bad input, 404 unknown, 409 conflict', async () => {
    const client = api(daemon.url);
    check(await client.post('/services', { name: 'bad name', image: TEST_IMAGE }), '/services', 'post', 400);
    check(await client.post('/services', { name: 'x', image: TEST_IMAGE, replicas: -1 }), '/services', 'post', 400);
    check(await client.get('/services/nope'), '/services/{name}', 'get', 404);
    check(await client.get('/nodes/nope'), '/nodes/{id}', 'get', 404);
    check(await client.get('/state?limit=x'), '/state', 'get', 400);
    check(await client.post('/services', { name: 'dup', image: TEST_IMAGE, replicas: 0 }), '/services', 'post', 201);
    check(await client.post('/services', { name: 'dup', image: TEST_IMAGE, replicas: 0 }), '/services', 'post', 409);
  });

  test('node-to-node routes: the join token, a refused join, and requests without the cluster secret', async () => {
    const client = api(daemon.url);
    check(await client.get('/cluster/join-token'), '/cluster/join-token', 'get', 200);
    check(await client.post(JOIN_PATH, {}), JOIN_PATH, 'post', 400);
    const stranger = { token: 'BCT1-not-the-token', node: { id: 'n-stranger', name: 'stranger', address: '127.0.0.1:1', role: 'worker' } };
    const refused = await client.post(JOIN_PATH, stranger);
    check(refused, JOIN_PATH, 'post', 403);
    assert.equal(refused.body.error.code, 'PERMISSION_DENIED');
    check(await client.post(RAFT_PATH, []), RAFT_PATH, 'post', 401);
    check(await client.post(VOTING_PATH, { kind: 'read' }), VOTING_PATH, 'post', 401);
    // The document gives the join's body as the schema the route validates it with.
    const doc = (await client.get('/openapi.json')).body;
    const body = doc.paths[JOIN_PATH].post.requestBody.content['application/json'].schema;
    assert.deepEqual(body, { $ref: '#/components/schemas/JoinRequest' });
    assert.deepEqual(doc.components.schemas.JoinRequest.required, ['token', 'node']);
    assert.equal(doc.paths[JOIN_PATH].post.security, undefined, 'a join carries its token, not the cluster secret');
  });

  test('the check is not vacuous: an answer with a field the document lacks, or the wrong error code, fails', async () => {
    const one = await api(daemon.url).get<Record<string, unknown>>('/services/dup');
    const validate = ajv.compile({ $ref: `openapi.json#/${pointer('/services/{name}', 'get', 200)}` });
    assert.ok(validate(one.body));
    assert.equal(validate({ ...one.body, surprise: 1 }), false);
    assert.equal(validate({ ...one.body, replicas: 'two' }), false);
    const notFound = ajv.compile({ $ref: `openapi.json#/${pointer('/services/{name}', 'get', 404)}` });
    assert.equal(notFound({ error: { code: 'SERVICE_EXISTS', message: 'x' } }), false);
  });
});
