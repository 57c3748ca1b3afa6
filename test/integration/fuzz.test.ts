import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { z } from 'zod';
import { startDaemon, removeDataDir, type TestDaemon } from '../helpers/daemon';
import { TEST_IMAGE } from '../helpers/docker';
import { api, call } from '../helpers/api';
import { nearFrom, type JsonSchema } from '../helpers/schema-arbitrary';
import { REQUEST_SCHEMAS } from '../../modules/validation';

// A fuzz test of the REST API, driven by the schemas the routes validate
// with: requests valid, near-valid and arbitrary, against a real daemon.
// Every answer is below 500, every refusal is the JSON error, and a refused
// request changes nothing stored.

const schemaOf = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
const RUNS = Number(process.env.BICYCLE_FUZZ_RUNS ?? 150);

/** What a valid request may do to the machine is bounded: no replicas (nothing runs), the test image. */
function tame(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  if (typeof copy.replicas === 'number' && Number.isInteger(copy.replicas) && copy.replicas >= 0 && copy.replicas <= 10_000) copy.replicas = 0;
  if (typeof copy.image === 'string' && /^\S{1,512}$/.test(copy.image)) copy.image = TEST_IMAGE;
  // A global service would run a replica here: a constraint no node passes keeps it placed nowhere.
  if (copy.mode === 'global') copy.placement = { constraints: ['node.labels.bicycle-fuzz==never'] };
  return copy;
}

type Request = { method: string; path: string; body?: unknown; raw?: string };

describe('the REST API under schema-driven fuzzing', () => {
  let daemon: TestDaemon;
  let nodeId: string;

  /** What is stored, as a user reads it (without what moves on its own). */
  const stored = async () => {
    const services = (await api(daemon.url).get('/services')).body.services.map((s: any) => ({ ...s, running: undefined, taskCounts: undefined, error: undefined, state: undefined, updatedAt: undefined }));
    const nodes = (await api(daemon.url).get('/nodes')).body.nodes.map((n: any) => ({ id: n.id, availability: n.availability, labels: n.labels }));
    return JSON.stringify({ services, nodes });
  };

  before(async () => {
    daemon = await startDaemon({ name: 'fuzz-1' });
    const res = await api(daemon.url).post('/services?wait=true', { name: 'keep', image: TEST_IMAGE, replicas: 0, command: ['sleep', '3600'] });
    assert.equal(res.status, 201);
    nodeId = (await api(daemon.url).get('/nodes')).body.nodes[0].id;
  });
  after(async () => {
    await daemon?.stop();
    removeDataDir(daemon.dataDir);
  });

  test(`${RUNS} requests: no 5xx, every refusal the JSON error, nothing stored changed by a refusal`, async (t) => {
    const create = nearFrom(schemaOf(REQUEST_SCHEMAS.createService)).map((body): Request => ({ method: 'POST', path: '/services', body: tame(body) }));
    const update = nearFrom(schemaOf(REQUEST_SCHEMAS.updateService)).map((body): Request => ({ method: 'PATCH', path: '/services/keep', body: tame(body) }));
    const rollback = nearFrom(schemaOf(REQUEST_SCHEMAS.rollbackRequest)).map((body): Request => ({ method: 'POST', path: '/services/keep/rollback', body }));
    const node = nearFrom(schemaOf(REQUEST_SCHEMAS.updateNode)).map((body): Request => ({ method: 'PATCH', path: `/nodes/${nodeId}`, body }));
    const query = fc
      .tuple(fc.constantFrom('/services/keep/logs?tail=', '/services?wait=true&timeout=', '/services/keep?consistent=', '/logs?tail='), fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('0x10', '1e3', '-1', '99999999999', '%00', 'true')))
      .map(([path, value]): Request => ({ method: path.startsWith('/services?') ? 'POST' : 'GET', path: path + encodeURIComponent(value), body: path.startsWith('/services?') ? { name: 'q', image: 'x y' } : undefined }));
    const raw = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('{', '[]', '{"name":', 'null', '"x"', '{"name":"a","image":"b","env":{"__proto__":"x"}}'))
      .map((text): Request => ({ method: 'POST', path: '/services', raw: text }));
    const names = fc.stringMatching(/^[^/?#]{0,70}$/).map((name): Request => ({ method: 'GET', path: `/services/${encodeURIComponent(name)}` }));

    let before = await stored();
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof(create, update, rollback, node, query, raw, names), async (req) => {
        const res = req.raw !== undefined
          ? await call(daemon.url, req.method, req.path, req.raw, { 'content-type': 'application/json' })
          : await call(daemon.url, req.method, req.path, req.body);
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        assert.ok(res.status < 500, `${req.method} ${req.path} ${JSON.stringify(req.body ?? req.raw)?.slice(0, 300)} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
        if (res.status >= 400) {
          assert.equal(typeof res.body?.error?.code, 'string', `a refusal is the JSON error: ${JSON.stringify(res.body).slice(0, 200)}`);
          assert.ok(res.body.error.message.length > 0);
          if (req.method !== 'GET') assert.equal(await stored(), before, `a refused ${req.method} ${req.path} changed what is stored`);
          return;
        }
        // Accepted: undo what it did, so the next request starts from the same place.
        if (req.method === 'POST' && res.status === 201) {
          const gone = await api(daemon.url).delete(`/services/${encodeURIComponent(res.body.name)}?wait=true&timeout=30`);
          assert.ok(gone.status === 200 || gone.status === 202, JSON.stringify(gone.body));
        }
        if (req.method === 'PATCH' && req.path.startsWith('/nodes/')) await api(daemon.url).patch(`/nodes/${nodeId}`, { availability: 'active', labels: {} });
        before = await stored();
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: 120_000 },
    );
    t.diagnostic(`answers by status: ${JSON.stringify([...seen].sort())}`);
    assert.ok((seen.get(400) ?? 0) > 0 && [...seen.keys()].some((s) => s < 300), `the requests reached both sides of the contract: ${JSON.stringify([...seen])}`);
  });
});
