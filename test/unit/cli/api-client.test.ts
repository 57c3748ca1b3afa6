import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { ApiClient, ApiError } from '../../../cli/api-client';

type Call = { url: string; init: RequestInit };

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** A fetch answering the given responses in turn, recording calls. */
function fakeFetch(responses: (Response | Error)[]): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetchFn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const next = responses.shift();
    if (!next) throw new Error('no more responses');
    if (next instanceof Error) throw next;
    return next;
  }) as unknown as typeof fetch;
  return { fetch: fetchFn, calls };
}

/** A loopback port that was free a moment ago and has nothing listening. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const noSleep = { sleep: async () => {} };

describe('ApiClient', () => {
  it('sends JSON bodies and decodes answers', async () => {
    const fake = fakeFetch([jsonResponse(201, { name: 'web' })]);
    const client = new ApiClient('http://h:1', { fetch: fake.fetch, ...noSleep });
    const got = await client.createService({ name: 'web', image: 'img', replicas: 2 });
    assert.equal(got.name, 'web');
    assert.equal(fake.calls[0]!.url, 'http://h:1/services?wait=false');
    assert.equal(fake.calls[0]!.init.method, 'POST');
    assert.deepEqual(JSON.parse(String(fake.calls[0]!.init.body)), { name: 'web', image: 'img', replicas: 2 });
  });

  it('encodes service names in paths', async () => {
    const fake = fakeFetch([jsonResponse(200, {})]);
    await new ApiClient('http://h:1', { fetch: fake.fetch }).getService('a b/c');
    assert.equal(fake.calls[0]!.url, 'http://h:1/services/a%20b%2Fc');
  });

  it("turns the daemon's error body into an ApiError with code, message and status", async () => {
    const fake = fakeFetch([jsonResponse(404, { error: { code: 'SERVICE_NOT_FOUND', message: 'no service "x"' } })]);
    await assert.rejects(new ApiClient('http://h:1', { fetch: fake.fetch }).getService('x'), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, 'SERVICE_NOT_FOUND');
      assert.equal(err.message, 'no service "x"');
      assert.equal(err.status, 404);
      return true;
    });
  });

  it('describes an error answer that is not JSON', async () => {
    const fake = fakeFetch([new Response('Internal Server Error', { status: 500 })]);
    await assert.rejects(new ApiClient('http://h:1', { fetch: fake.fetch }).listNodes(), {
      code: 'HTTP_500',
      message: 'the daemon answered 500: Internal Server Error',
    });
  });

  it('sends node and rebalance requests to their paths', async () => {
    const node = { id: 'n-3', name: 'host 3' };
    const fake = fakeFetch([
      jsonResponse(200, node),
      jsonResponse(200, { removed: 'host 3' }),
      jsonResponse(200, node),
      jsonResponse(200, node),
      jsonResponse(200, { token: 'BCT1-x', join: '--join x --token BCT1-x' }),
      jsonResponse(202, { name: 'web', rebalancing: true }),
      jsonResponse(202, { services: ['web'] }),
    ]);
    const client = new ApiClient('http://h:1', { fetch: fake.fetch });
    assert.equal((await client.setNodeAvailability('host 3', 'drain')).id, 'n-3');
    assert.equal(await client.removeNode('host 3'), 'host 3');
    await client.changeRole('n-3', 'promote');
    await client.changeRole('n-3', 'demote');
    assert.equal((await client.getJoinToken()).token, 'BCT1-x');
    assert.equal((await client.rebalanceService('web')).rebalancing, true);
    assert.deepEqual(await client.rebalanceAll(), ['web']);
    assert.deepEqual(
      fake.calls.map((c) => `${c.init.method} ${c.url.replace('http://h:1', '')}${c.init.body ? ' ' + String(c.init.body) : ''}`),
      [
        'PATCH /nodes/host%203 {"availability":"drain"}',
        'DELETE /nodes/host%203',
        'POST /nodes/n-3/promote',
        'POST /nodes/n-3/demote',
        'GET /cluster/join-token',
        'POST /services/web/rebalance',
        'POST /rebalance',
      ],
    );
  });

  it('answers null from findService on 404', async () => {
    const fake = fakeFetch([jsonResponse(404, { error: { code: 'NOT_FOUND', message: 'gone' } })]);
    assert.equal(await new ApiClient('http://h:1', { fetch: fake.fetch }).findService('web'), null);
  });

  it('listTasks follows the next cursors until the last page, and listServicesWithTasks asks for the tasks', async () => {
    const task = (id: string) => ({ id, slot: 1 });
    const fake = fakeFetch([
      jsonResponse(200, { tasks: [task('a'), task('b')], next: 'c1+/=' }),
      jsonResponse(200, { tasks: [task('c')], next: null }),
      jsonResponse(200, { services: [] }),
    ]);
    const client = new ApiClient('http://h:1', { fetch: fake.fetch, ...noSleep });
    assert.deepEqual((await client.listTasks('web', 2)).map((t) => t.id), ['a', 'b', 'c']);
    assert.deepEqual(await client.listServicesWithTasks(), []);
    assert.deepEqual(fake.calls.map((c) => c.url), [
      'http://h:1/services/web/tasks?limit=2',
      'http://h:1/services/web/tasks?limit=2&after=c1%2B%2F%3D',
      'http://h:1/services?tasks=true',
    ]);
  });

  it('retries 503 (no leader yet) with back-off, then succeeds', async () => {
    const noLeader = () => jsonResponse(503, { error: { code: 'NO_LEADER', message: 'no leader yet' } });
    const fake = fakeFetch([noLeader(), noLeader(), jsonResponse(200, { services: [] })]);
    const pauses: number[] = [];
    const client = new ApiClient('http://h:1', { fetch: fake.fetch, sleep: async (ms) => void pauses.push(ms) });
    assert.deepEqual(await client.listServices(), []);
    assert.deepEqual(pauses, [100, 200]);
  });

  it('sends a write with one Idempotency-Key for all its attempts, a read with none', async () => {
    const noLeader = () => jsonResponse(503, { error: { code: 'NO_LEADER', message: 'no leader yet' } });
    const fake = fakeFetch([noLeader(), noLeader(), jsonResponse(201, { name: 'web' }), jsonResponse(201, { name: 'api' }), jsonResponse(200, {})]);
    const client = new ApiClient('http://h:1', { fetch: fake.fetch, ...noSleep });
    await client.createService({ name: 'web', image: 'img', replicas: 1 });
    await client.createService({ name: 'api', image: 'img', replicas: 1 });
    await client.getService('web');
    const keys = fake.calls.map((c) => (c.init.headers as Record<string, string>)['idempotency-key']);
    assert.ok(keys[0], 'a write carries a key');
    assert.equal(keys[1], keys[0], 'a retry carries the same key');
    assert.equal(keys[2], keys[0]);
    assert.notEqual(keys[3], keys[0], 'another write, another key');
    assert.equal(keys[4], undefined, 'a read carries none');
  });

  it('gives up on 503 after about 5 seconds', async () => {
    const responses = Array.from({ length: 50 }, () => jsonResponse(503, { error: { code: 'NO_LEADER', message: 'no leader yet' } }));
    const fake = fakeFetch(responses);
    let waitedMs = 0;
    const client = new ApiClient('http://h:1', { fetch: fake.fetch, sleep: async (ms) => void (waitedMs += ms) });
    await assert.rejects(client.getState(), { code: 'NO_LEADER', status: 503 });
    assert.equal(waitedMs, 5000);
  });

  it('does not retry other errors', async () => {
    const fake = fakeFetch([jsonResponse(400, { error: { code: 'BAD_INPUT', message: 'replicas must be >= 0' } })]);
    await assert.rejects(new ApiClient('http://h:1', { fetch: fake.fetch }).updateService('web', { replicas: 1 }), { status: 400 });
    assert.equal(fake.calls.length, 1);
  });

  it('says the daemon is not running when the connection is refused', async () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    const fake = fakeFetch([refused]);
    await assert.rejects(new ApiClient('http://127.0.0.1:7070', { fetch: fake.fetch }).listServices(), {
      code: 'UNREACHABLE',
      message: 'cannot reach bicycled at http://127.0.0.1:7070: is it running?',
    });
  });

  it('says so when a real connection is refused', async () => {
    const port = await closedPort();
    await assert.rejects(new ApiClient(`http://127.0.0.1:${port}`).listServices(), {
      message: `cannot reach bicycled at http://127.0.0.1:${port}: is it running?`,
    });
  });
});
