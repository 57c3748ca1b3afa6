import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { spawn } from 'node:child_process';
import { cliPath } from '../helpers/daemon';
import { runCli } from '../helpers/cli';
import type { ClusterEvent } from '../../database/events';

/** `bicycle events ARGS...` until its output matches `until`; then it is stopped (it follows for ever). */
function cliEventsUntil(host: string, until: RegExp, args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath(), 'events', ...args], { env: { ...process.env, BICYCLE_HOST: host }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => finish(new Error(`bicycle events printed no ${until}: ${stdout}${stderr}`)), timeoutMs);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      child.kill();
      if (error) reject(error);
      else resolve(stdout);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (until.test(stdout)) finish();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('close', () => finish(new Error(`bicycle events ended: ${stdout}${stderr}`)));
  });
}

type Event = ClusterEvent;

/** An open GET /events: every event received so far (with SSE, the ids too), until closed. */
interface Reader {
  events: Event[];
  ids: number[];
  status: number;
  until(what: string, done: (events: Event[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

async function openEvents(url: string, path: string, headers: Record<string, string> = {}): Promise<Reader> {
  const abort = new AbortController();
  const res = await fetch(url + path, { headers, signal: abort.signal });
  const sse = (headers.Accept ?? '').includes('text/event-stream');
  const events: Event[] = [];
  const ids: number[] = [];
  let wake: () => void = () => undefined;
  let buffer = '';
  void (async () => {
    try {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        const separator = sse ? '\n\n' : '\n';
        let at: number;
        while ((at = buffer.indexOf(separator)) >= 0) {
          const record = buffer.slice(0, at);
          buffer = buffer.slice(at + separator.length);
          if (!sse) {
            if (record.trim()) events.push(JSON.parse(record) as Event);
            continue;
          }
          for (const line of record.split('\n')) {
            if (line.startsWith('id: ')) ids.push(Number(line.slice(4)));
            if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)) as Event);
          }
        }
        wake();
      }
    } catch {
      // aborted
    }
  })();
  return {
    events,
    ids,
    status: res.status,
    async until(what, done, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(events)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => [e.index, e.type, e.action, e.service]))}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
    },
    close: () => abort.abort(),
  };
}

const isWeb = (action: string) => (e: Event) => e.type === 'service' && e.service === 'web' && e.action === action;

describe('GET /events on a real bicycled', () => {
  let daemon: TestDaemon;

  before(async () => {
    await requireDocker();
    daemon = await startDaemon();
  });
  after(async () => {
    await daemon?.stop();
  });

  test('create, scale and remove a service: the log replays as events in order, live and again from any index, exactly', async () => {
    const live = await openEvents(daemon.url, '/events');
    assert.equal(live.status, 200);
    try {
      assert.equal((await api(daemon.url).post('/services?wait=true', { name: 'web', image: TEST_IMAGE, replicas: 1, command: ['sleep', '3600'] })).status, 201);
      assert.equal((await api(daemon.url).patch('/services/web?wait=true', { replicas: 2 })).status, 200);
      // The follower connected before the scale: it sees it.
      await live.until('the live scale event', (events) => events.some((e) => isWeb('update')(e) && e.attributes.replicas === 2));
    } finally {
      live.close();
    }
    assert.equal((await api(daemon.url).delete('/services/web?wait=true')).status, 200);

    const all = await openEvents(daemon.url, '/events?since=0');
    await all.until('the service remove event', (events) => events.some(isWeb('remove')));
    all.close();
    const events = all.events;
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.index >= events[i - 1]!.index, 'indexes never go back');
    const create = events.find(isWeb('create'))!;
    const update = events.find((e) => isWeb('update')(e) && e.attributes.replicas === 2)!;
    const remove = events.find(isWeb('remove'))!;
    assert.ok(create && update && remove);
    assert.ok(create.index < update.index && update.index < remove.index, 'create, update, remove in order');
    assert.equal(create.attributes.replicas, 1);
    assert.ok(events.some((e) => isWeb('delete')(e) && e.index > update.index && e.index < remove.index));
    const running = events.filter((e) => e.type === 'task' && e.service === 'web' && e.action === 'state' && e.attributes.state === 'RUNNING');
    assert.ok(running.length >= 2, `two replicas reported RUNNING, got ${running.length}`);
    assert.ok(running.every((e) => e.index > create.index && e.index < remove.index));
    assert.ok(events.some((e) => e.type === 'task' && e.service === 'web' && e.action === 'create' && e.index > create.index));
    assert.ok(events.some((e) => e.type === 'node' && e.action === 'create'), 'the node registered');
    assert.ok(events.every((e) => !Number.isNaN(Date.parse(e.time))));
    assert.ok(events.every((e) => e.type !== 'task' || e.service === 'web'), 'every task event names its service');

    // Again from the create's index: the same events after it, none missed, none twice.
    const expected = events.filter((e) => e.index > create.index && e.index <= remove.index);
    const again = await openEvents(daemon.url, `/events?since=${create.index}`);
    await again.until('the remove again', (es) => es.some(isWeb('remove')));
    again.close();
    assert.deepEqual(again.events.filter((e) => e.index <= remove.index), expected);

    // Server-Sent Events, resumed with Last-Event-ID: the same again, each with its index as id.
    const sse = await openEvents(daemon.url, '/events', { Accept: 'text/event-stream', 'Last-Event-ID': String(create.index) });
    assert.equal(sse.status, 200);
    await sse.until('the remove over SSE', (es) => es.some(isWeb('remove')));
    sse.close();
    assert.deepEqual(sse.events.filter((e) => e.index <= remove.index), expected);
    assert.deepEqual(sse.ids.slice(0, expected.length), expected.map((e) => e.index));

    // The CLI, formatted like docker events, and as JSON lines.
    const printed = await cliEventsUntil(daemon.url, /service remove web/, ['--since', String(create.index - 1), '--filter', 'service=web', '--filter', 'type=service']);
    const lines = printed.trim().split('\n');
    assert.match(lines[0]!, new RegExp(`^${create.time.replace(/[.]/g, '[.]')} service create web \\(index=${create.index}, id=.*replicas=1`));
    assert.ok(lines.some((l) => / service update web \(index=\d+, changed=replicas, replicas=2\)$/.test(l)), printed);
    const json = await cliEventsUntil(daemon.url, /"action":"remove"/, ['--since', String(create.index - 1), '--filter', 'service=web', '--filter', 'type=service', '--json']);
    assert.deepEqual(JSON.parse(json.trim().split('\n')[0]!), create);
    const usage = await runCli(daemon.url, 'events', '--since', 'abc');
    assert.equal(usage.code, 2);

    // Filtered: web's own service events only.
    const filtered = await openEvents(daemon.url, '/events?since=0&type=service&service=web');
    await filtered.until('the filtered remove', (es) => es.some(isWeb('remove')));
    filtered.close();
    assert.deepEqual(
      filtered.events.filter((e) => e.index <= remove.index),
      events.filter((e) => e.type === 'service' && e.service === 'web'),
    );
  });

  test('bad since or type is 400 naming the parameter', async () => {
    const since = await api(daemon.url).get('/events?since=abc');
    assert.equal(since.status, 400);
    assert.equal(since.body.error.code, 'INVALID_ARGUMENT');
    assert.match(since.body.error.message, /^since/);
    const type = await api(daemon.url).get('/events?type=bogus');
    assert.equal(type.status, 400);
    assert.match(type.body.error.message, /^type/);
    const res = await fetch(`${daemon.url}/events`, { headers: { 'Last-Event-ID': 'x' } });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /^Last-Event-ID/);
  });
});

describe('GET /events after log compaction', () => {
  let daemon: TestDaemon;

  before(async () => {
    await requireDocker();
    daemon = await startDaemon({ config: { voting: { snapshotEveryEntries: 10 } } });
  });
  after(async () => {
    await daemon?.stop();
  });

  test('an index compacted into a snapshot is 410 EVENTS_COMPACTED naming the oldest one served, which then serves', async () => {
    assert.equal((await api(daemon.url).post('/services?wait=true', { name: 'web', image: TEST_IMAGE, replicas: 3, command: ['sleep', '3600'] })).status, 201);
    let gone = await api(daemon.url).get('/events?since=0');
    for (let i = 0; i < 100 && gone.status !== 410; i++) {
      await api(daemon.url).patch('/services/web', { env: { N: String(i) } });
      gone = await api(daemon.url).get('/events?since=0');
    }
    assert.equal(gone.status, 410);
    assert.equal(gone.body.error.code, 'EVENTS_COMPACTED');
    const oldest = Number(/oldest index events can be read after is (\d+)/.exec(gone.body.error.message)?.[1]);
    assert.ok(oldest > 0, gone.body.error.message);
    const served = await openEvents(daemon.url, `/events?since=${oldest}`);
    assert.equal(served.status, 200);
    await api(daemon.url).patch('/services/web', { env: { N: 'last' } });
    await served.until('the update after the oldest index', (es) => es.some((e) => isWeb('update')(e) && e.index > oldest));
    served.close();
    const cli = await runCli(daemon.url, 'events', '--since', '0');
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /oldest index events can be read after is \d+/);
  });
});
