import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Router from '@koa/router';
import Ajv2020 from 'ajv/dist/2020';
import { createApp } from '../../modules/app';
import { serveApp, stubRestContext } from '../helpers/rest-context';
import { buildOpenApiDocument, openApiPath } from '../../modules/openapi';
import { openDatabase } from '../../database/open-database';
import { applyCommand } from '../../database/apply-command';
import type { Command } from '../../database/commands';
import { setLocal } from '../../database/queries';
import { writePrepullStatus } from '../../daemon/deployment/prepull-status';

/**
 * GET /openapi.json against the routers themselves: the document is
 * OpenAPI 3.1-shaped, and its operations are exactly the routes the app
 * serves (every router createApp wires in, read from @koa/router's layers),
 * so a route added without its documentation, or documentation left behind
 * by a removed route, fails here. Then answers of the app over a real
 * database (no Raft, no Docker) with the fields a plain service lacks
 * (health check, placement, resources, global mode, node facts, pre-pull)
 * are validated against the document.
 */
// Two connections to one file, as in the daemon: the REST thread reads, another writes.
const dir = mkdtempSync(join(tmpdir(), 'bicycle-openapi-'));
const writer = openDatabase(join(dir, 'db.sqlite'), { migrate: true });
const db = openDatabase(join(dir, 'db.sqlite'));
const AT = 1_700_000_000_000;

function apply(command: Command): void {
  const result = applyCommand(writer, command);
  if (!result.ok) throw new Error(`${command.type}: ${result.error.message}`);
}

const ctx = stubRestContext(db, { propose: async (command) => applyCommand(writer, command), now: () => AT + 5000 });

/** `GET /services/{name}` for every method of every layer of every router the app uses; HEAD is koa-router's own for each GET. */
function servedOperations(): Set<string> {
  const app = createApp(ctx);
  const routers = app.middleware.map((m) => (m as { router?: Router }).router).filter((r): r is Router => r !== undefined);
  assert.ok(routers.length >= 5, `expected the app's routers, found ${routers.length}`);
  const out = new Set<string>();
  for (const router of routers) {
    for (const layer of router.stack) {
      for (const method of layer.methods) if (method !== 'HEAD') out.add(`${method} ${openApiPath(String(layer.path))}`);
    }
  }
  return out;
}

const doc = buildOpenApiDocument('test') as {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { responses: Record<string, unknown>; summary: string; requestBody?: { content: Record<string, { schema: unknown }> } }>>;
  components: { schemas: Record<string, unknown> };
};

test('the document is OpenAPI 3.1-shaped', () => {
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.equal(typeof doc.info.title, 'string');
  assert.equal(doc.info.version, 'test');
  assert.equal(typeof doc.paths, 'object');
  for (const [path, item] of Object.entries(doc.paths)) {
    assert.match(path, /^\/[^:]*$/, `${path}: path parameters are {name}, not :name`);
    for (const [method, op] of Object.entries(item)) {
      assert.ok(['get', 'post', 'patch', 'delete', 'put'].includes(method), `${path}: ${method}`);
      assert.ok(op.summary, `${method} ${path} has a summary`);
      assert.ok(Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), `${method} ${path} has a success answer`);
      assert.ok(op.responses['500'], `${method} ${path} names its 500`);
    }
  }
});

test('every operation of the document is a route the routers serve, and every route is in the document', () => {
  const served = servedOperations();
  const documented = new Set(Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)));
  const missing = [...served].filter((op) => !documented.has(op)).sort();
  const extra = [...documented].filter((op) => !served.has(op)).sort();
  assert.deepEqual(missing, [], `served but not in /openapi.json: ${missing.join(', ')}`);
  assert.deepEqual(extra, [], `in /openapi.json but not served: ${extra.join(', ')}`);
  assert.ok(served.has('GET /openapi.json'));
  assert.ok(served.has('PATCH /services/{name}'));
});

test('request bodies are the validating zod schemas, and every $ref resolves', () => {
  const body = (method: string, path: string) => doc.paths[path]![method]!.requestBody!.content['application/json']!.schema;
  assert.deepEqual(body('post', '/services'), { $ref: '#/components/schemas/CreateService' });
  assert.deepEqual(body('patch', '/services/{name}'), { $ref: '#/components/schemas/UpdateService' });
  assert.deepEqual(body('patch', '/nodes/{id}'), { $ref: '#/components/schemas/UpdateNode' });
  const create = doc.components.schemas.CreateService as { required: string[]; additionalProperties: boolean; properties: Record<string, unknown> };
  assert.deepEqual(create.required.sort(), ['image', 'name']);
  assert.equal(create.additionalProperties, false);
  assert.ok(create.properties.healthcheck && create.properties.placement, 'lifecycle and placement fields are in it');
  const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
  for (const r of refs) {
    const name = /#\/components\/schemas\/([^"]+)/.exec(r)?.[1];
    assert.ok(name && doc.components.schemas[name], `${r} resolves`);
  }
});

test('error answers carry the catalogue codes of their status', () => {
  const get = doc.paths['/services/{name}']!.get!.responses as Record<string, { content: { 'application/json': { schema: { properties: { error: { properties: { code: { enum: string[] } } } } } } } }>;
  assert.deepEqual(get['404']!.content['application/json'].schema.properties.error.properties.code.enum, ['SERVICE_NOT_FOUND']);
  const post = doc.paths['/services']!.post!.responses as typeof get;
  assert.deepEqual(post['409']!.content['application/json'].schema.properties.error.properties.code.enum.sort(), ['PORT_IN_USE', 'REPLICA_LIMIT', 'SERVICE_EXISTS']);
  assert.ok(post['503'], 'a write may find no leader');
});

let server: Server;
let base = '';
before(async () => {
  apply({ type: 'cluster.init', clusterId: 'cl', secret: 's'.repeat(24), joinToken: 'BCT1-cl-x', at: AT });
  for (const [id, name] of [['n1', 'host-a'], ['n2', 'host-b']]) {
    apply({ type: 'node.register', node: { id: id!, name: name!, address: '127.0.0.1:7070', role: 'manager', startedAt: AT }, at: AT });
  }
  apply({ type: 'node.set-facts', nodeId: 'n1', facts: { cpus: 4, memoryBytes: 8 * 1024 ** 3, os: 'linux', arch: 'x86_64', engineVersion: '27.1.0' }, at: AT });
  setLocal(writer, 'node_id', 'n1');
  setLocal(writer, 'leader_id', 'n1');
  writePrepullStatus(writer, [{ service: 'agent', image: 'i:1', state: 'done', error: null }]);
  ({ server, base } = await serveApp(ctx));
});
after(() => {
  server.close();
  db.close();
  writer.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Calls the app and asserts the answer's status, and that its body validates against the document's schema for the route and status. */
async function checked(method: string, path: string, route: string, status: number, body?: unknown): Promise<any> {
  const res = await fetch(base + path, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  const answer = await res.json();
  assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(answer)}`);
  const at = ['paths', route, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema']
    .map((segment) => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1')))
    .join('/');
  // A named answer is validated through its component, compiled once for every route that answers it.
  const schema = (doc.paths[route]![method.toLowerCase()]!.responses[String(status)] as { content: Record<string, { schema: { $ref?: string } }> }).content['application/json']!.schema;
  const validate = ajv.getSchema(schema.$ref ? `openapi.json${schema.$ref}` : `openapi.json#/${at}`);
  assert.ok(validate, `the document has a schema for ${method} ${route} ${status}`);
  assert.ok(validate(answer), `${method} ${path} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(answer, null, 1)}`);
  return answer;
}

// The document is not a JSON Schema itself (openapi, info, paths): strict off so its other keywords are ignored, not refused.
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(doc, 'openapi.json');

test('answers with every optional block validate against the document', async () => {
  await checked('POST', '/services', '/services', 201, {
    name: 'web', image: 'i:1', replicas: 2, command: ['sleep', '1'], env: { A: 'b' }, labels: { team: 'blue' },
    ports: [{ published: 8080, target: 80 }], onDisconnect: 'keep', prepull: false,
    healthcheck: { test: ['CMD-SHELL', 'true'], interval: '2s' }, restart: { condition: 'on-failure', maxAttempts: 3 },
    update: { parallelism: 1, order: 'start-first', failureAction: 'rollback' }, rollback: { parallelism: 1 }, stopGracePeriod: '3s',
    placement: { constraints: ['node.labels.zone==a'], preferences: [{ spread: 'node.labels.zone' }], maxReplicasPerNode: 1, maxPerValue: 2, strategy: 'binpack' },
    resources: { reservations: { cpus: 0.5, memory: '1G' }, limits: { cpus: 1, memory: '2G', pids: 64 } },
  });
  apply({ type: 'task.create', id: 'web-1', serviceName: 'web', slot: 1, specVersion: 1, nodeId: 'n1', at: AT });
  await checked('POST', '/services', '/services', 201, { name: 'agent', image: 'i:1', mode: 'global' });
  await checked('PATCH', '/services/web', '/services/{name}', 200, { image: 'i:2', healthcheck: null });
  await checked('GET', '/services/web', '/services/{name}', 200);
  await checked('GET', '/services', '/services', 200);
  await checked('GET', '/services?tasks=true', '/services', 200);
  await checked('GET', '/services/web/tasks', '/services/{name}/tasks', 200);
  await checked('GET', '/services/web/history', '/services/{name}/history', 200);
  // Still NEW (no deployment thread here): refused, and the refusal is in the document.
  await checked('POST', '/services/web/rollback', '/services/{name}/rollback', 409);
  await checked('POST', '/services/web/rebalance', '/services/{name}/rebalance', 202);
  await checked('POST', '/rebalance', '/rebalance', 202);
  await checked('PATCH', '/nodes/host-a', '/nodes/{id}', 200, { labels: { zone: 'a' } });
  await checked('GET', '/nodes', '/nodes', 200);
  await checked('GET', '/nodes/host-b', '/nodes/{id}', 200);
  const state = await checked('GET', '/state', '/state', 200);
  assert.ok(state.nodes.some((n: any) => n.prepull !== null && n.facts !== null), 'the state shows this node with its facts and pre-pulls');
  await checked('GET', '/healthz', '/healthz', 200);
  await checked('GET', '/cluster/join-token', '/cluster/join-token', 200);
  await checked('DELETE', '/services/agent', '/services/{name}', 202);
  await checked('PATCH', '/services/web', '/services/{name}', 400, { replicas: 'two' });
  await checked('POST', '/services/web/rollback', '/services/{name}/rollback', 400, { version: 0 });
  await checked('GET', '/services/nope/history', '/services/{name}/history', 404);
  await checked('POST', '/services', '/services', 409, { name: 'web', image: 'i:1' });
});
