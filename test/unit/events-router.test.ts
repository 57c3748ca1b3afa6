import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { openDatabase, type Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import { setLocal } from '../../database/queries';
import { errorMiddleware } from '../../modules/error-middleware';
import { eventsRouter } from '../../modules/events-router';
import { stubRestContext } from '../helpers/rest-context';

const at = Date.UTC(2026, 11, 2, 12, 0, 0);
const spec = { image: 'busybox', command: null, env: {}, labels: {}, ports: [] };

let db: Db;
let server: Server;
let url: string;

function append(index: number, command: Command | null): void {
  db.prepare('INSERT INTO raft_entries (log_index, term, type, data) VALUES (?, 1, ?, ?)').run(index, command ? 'normal' : 'noop', command ? JSON.stringify(command) : '');
}

/** Reads the stream for `ms`, then hangs up: the raw text. */
async function readFor(path: string, ms: number, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const abort = new AbortController();
  const res = await fetch(url + path, { headers, signal: abort.signal });
  let text = '';
  const reading = (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString();
    } catch {
      // hung up
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, ms));
  abort.abort();
  await reading;
  return { status: res.status, text };
}

before(async () => {
  db = openDatabase(':memory:', { migrate: true });
  append(1, null);
  append(2, { type: 'service.create', id: 's1', name: 'web', spec, replicas: 1, at, request: { id: 'r1', fingerprint: 'POST /services x' } });
  // A retry of the same request: applied once, so no second event.
  append(3, { type: 'service.create', id: 's1', name: 'web', spec, replicas: 1, at, request: { id: 'r1', fingerprint: 'POST /services x' } });
  db.prepare("INSERT INTO applied_requests (request_id, fingerprint, log_index, result) VALUES ('r1', 'POST /services x', 2, '{}')").run();
  append(4, { type: 'batch', commands: [{ type: 'task.create', id: 't1', serviceName: 'web', slot: 1, specVersion: 1, at }, { type: 'task.observe', taskId: 't1', state: 'RUNNING', at }] });
  // Persisted but not applied here yet: not sent.
  append(5, { type: 'service.update', name: 'web', changes: { replicas: 2 }, at });
  setLocal(db, 'applied_index', '4');
  const ctx = stubRestContext(db);
  const app = new Koa();
  app.use(errorMiddleware(ctx.log));
  const router = eventsRouter(ctx, { heartbeatMs: 300, pollMs: 50 });
  app.use(router.routes());
  server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server?.close();
  db?.close();
});

test('the applied entries after since, a retry once, nothing beyond the applied index; then entries as they are applied; heartbeats when idle', async () => {
  const reading = readFor('/events?since=0', 1000);
  await new Promise((resolve) => setTimeout(resolve, 400));
  setLocal(db, 'applied_index', '5');
  const { status, text } = await reading;
  assert.equal(status, 200);
  const lines = text.split('\n');
  const events = lines.filter((l) => l.trim()).map((l) => JSON.parse(l) as { index: number; type: string; action: string; service?: string });
  assert.deepEqual(
    events.map((e) => [e.index, e.type, e.action, e.service]),
    [
      [2, 'service', 'create', 'web'],
      [4, 'task', 'create', 'web'],
      [4, 'task', 'state', 'web'],
      [5, 'service', 'update', 'web'],
    ],
  );
  assert.ok(lines.filter((l) => l === '').length >= 2, `heartbeat lines while idle: ${JSON.stringify(text)}`);
});

test('SSE: ids are the indexes, Last-Event-ID resumes after, heartbeats are comments', async () => {
  const { text } = await readFor('/events', 700, { Accept: 'text/event-stream', 'Last-Event-ID': '2' });
  assert.match(text, /^id: 4\nevent: task\ndata: \{"index":4,/);
  assert.match(text, /\nid: 5\nevent: service\ndata: \{"index":5,[^\n]*"action":"update"/);
  assert.doesNotMatch(text, /"index":2,/);
  assert.match(text, /: heartbeat\n\n/);
});

test('filters, and from now without since', async () => {
  const { text } = await readFor('/events?since=0&type=task', 200);
  assert.deepEqual(text.split('\n').filter((l) => l).map((l) => JSON.parse(l).action), ['create', 'state']);
  const now = await readFor('/events', 200);
  assert.equal(now.text.trim(), '');
});

test('a task gone from the tasks table is named by its service from its creation earlier in the log', async () => {
  append(6, { type: 'task.remove', taskId: 't1', at });
  setLocal(db, 'applied_index', '6');
  const { text } = await readFor('/events?since=5', 150);
  assert.deepEqual(text.split('\n').filter((l) => l).map((l) => JSON.parse(l)), [
    { index: 6, term: 1, time: new Date(at).toISOString(), type: 'task', action: 'remove', service: 'web', task: 't1', attributes: {} },
  ]);
});

test('a since compacted away is 410 naming the oldest index served; bad since and type are 400', async () => {
  db.prepare('DELETE FROM raft_entries WHERE log_index <= 3').run();
  const gone = await fetch(`${url}/events?since=1`);
  assert.equal(gone.status, 410);
  const body = (await gone.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'EVENTS_COMPACTED');
  assert.match(body.error.message, /oldest index events can be read after is 3$/);
  const served = await readFor('/events?since=3', 150);
  assert.equal(served.text.split('\n').filter((l) => l).length, 4);
  for (const [path, name] of [['/events?since=abc', 'since'], ['/events?since=-1', 'since'], ['/events?type=pod', 'type']] as const) {
    const res = await fetch(url + path);
    assert.equal(res.status, 400, path);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, new RegExp(`^${name}:`));
  }
});
