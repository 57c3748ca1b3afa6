import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startDaemon, daemonPath, type TestDaemon } from '../helpers/daemon';
import { TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

describe('bicycled configuration', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [daemonPath(), ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });

  test('a bad flag value is refused with exit 2 and a message naming the option', () => {
    const result = run(['--listen', 'nowhere']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /invalid configuration: listen: must be host:port/);
  });

  test('a bad environment variable is refused the same way', () => {
    const result = run([], { BICYCLE_LOG_LEVEL: 'loud' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /logLevel/);
  });

  test('an unreadable config file is named', () => {
    const result = run(['--config', '/nonexistent/bicycle.json']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /cannot read config file \/nonexistent\/bicycle.json/);
  });
});

describe('a running bicycled', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startDaemon({ name: 'logger' });
  });
  after(async () => {
    assert.equal(await daemon.stop(), 0);
  });

  test('a port already in use stops a second daemon with exit 1, naming the address', async () => {
    const result = spawnSync(process.execPath, [daemonPath(), '--listen', daemon.listen, '--data-dir', daemon.dataDir + '-second'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`cannot listen on ${daemon.listen.replace(/\./g, '\\.')}: .*already in use`));
  });

  test('GET /logs gives the last lines of the daemon log, and follow streams new ones', async () => {
    const tail = await fetch(`${daemon.url}/logs?tail=50`);
    assert.equal(tail.status, 200);
    assert.match(tail.headers.get('content-type') ?? '', /text\/plain/);
    const text = await tail.text();
    assert.match(text, /\[voting\] this node is the leader node=logger/);
    assert.ok(text.trim().split('\n').length <= 50);

    const controller = new AbortController();
    const follow = await fetch(`${daemon.url}/logs?tail=0&follow=true`, { signal: controller.signal });
    const reader = follow.body!.getReader();
    let seen = '';
    await api(daemon.url).post('/services', { name: 'logged', image: TEST_IMAGE, replicas: 1, command: ['sleep', '600'] });
    await waitFor('the new service in the followed log', async () => {
      const { value } = await reader.read();
      seen += Buffer.from(value ?? new Uint8Array()).toString('utf8');
      return /service created node=logger service=logged/.test(seen);
    }, 10_000, 0);
    controller.abort();
  });

  test('service logs prefix each line with its replica', async () => {
    await api(daemon.url).post('/services?wait=true&timeout=30', {
      name: 'talker', image: TEST_IMAGE, replicas: 2, command: ['sh', '-c', 'echo hello from $HOSTNAME; sleep 600'],
    });
    const text = await waitFor('both replicas\' lines', async () => {
      const t = await (await fetch(`${daemon.url}/services/talker/logs?tail=10`)).text();
      return /^talker\.1 \| hello from/m.test(t) && /^talker\.2 \| hello from/m.test(t) ? t : undefined;
    }, 10_000);
    assert.equal(text.trim().split('\n').length, 2);
  });

  test('an image that cannot be pulled: the task FAILED with the reason, the service DEGRADED, retried with back-off', async () => {
    const res = await api(daemon.url).post('/services', { name: 'ghost', image: 'bicycle/does-not-exist:1', replicas: 1 });
    assert.equal(res.status, 201);
    const service = await waitFor('the failure to show', async () => {
      const s = (await api(daemon.url).get('/services/ghost')).body;
      return s.state === 'DEGRADED' && s.tasks.some((t: any) => t.state === 'FAILED') ? s : undefined;
    }, 15_000);
    const failed = service.tasks.find((t: any) => t.state === 'FAILED');
    assert.match(failed.error, /image bicycle\/does-not-exist:1 is not on this node and could not be pulled/);
    const state = (await api(daemon.url).get('/state')).body;
    const ghost = state.services.find((s: any) => s.name === 'ghost');
    assert.equal(ghost.state, 'DEGRADED');
    assert.match(ghost.error, /could not be pulled/);
    // It keeps trying: more failed attempts appear, spaced by the back-off.
    const retried = await waitFor('a second attempt', async () => {
      const s = (await api(daemon.url).get('/services/ghost')).body;
      return s.tasks.filter((t: any) => t.state === 'FAILED').length >= 2 ? s : undefined;
    }, 15_000);
    const times = retried.tasks.filter((t: any) => t.state === 'FAILED').map((t: any) => Date.parse(t.createdAt)).sort();
    assert.ok(times.length >= 2);
    await api(daemon.url).delete('/services/ghost');
  });
});
