import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type Router from '@koa/router';
import winston from 'winston';
import { createApp } from '../../modules/app';
import type { RestContext } from '../../modules/context';
import { buildOpenApiDocument, openApiPath } from '../../modules/openapi';
import { openDatabase } from '../../database/open-database';

/**
 * GET /openapi.json against the routers themselves: the document is
 * OpenAPI 3.1-shaped, and its operations are exactly the routes the app
 * serves (every router createApp wires in, read from @koa/router's layers),
 * so a route added without its documentation, or documentation left behind
 * by a removed route, fails here.
 */
const db = openDatabase(':memory:', { migrate: true });
const ctx: RestContext = {
  db,
  propose: async () => ({ ok: true }) as never,
  voting: { readBarrier: async () => 0, join: async () => { throw new Error('not here'); }, changeMembership: async () => undefined, raw: async () => ({ ok: true }) },
  deliverRaft: () => undefined,
  changes: { subscribe: () => () => undefined, publish: () => undefined, close: () => undefined } as unknown as RestContext['changes'],
  log: winston.createLogger({ silent: true }),
  dataDir: '/nonexistent',
  advertise: '127.0.0.1:0',
  now: () => 0,
  containerLogs: () => new PassThrough(),
  followDaemonLog: () => () => undefined,
};

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
