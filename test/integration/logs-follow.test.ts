import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type Docker from 'dockerode';
import { cliPath, startDaemon, type TestDaemon } from '../helpers/daemon';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

// `bicycle service logs --follow` on a real daemon and engine: a replica
// killed under the follower is replaced, and the replacement's lines show in
// the same running command, while the other replica's counter goes on
// without a gap; removing the service ends the command with a last line.

/** Each replica prints `<its hostname> <counter>` every 100 ms. */
const COUNTER = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "$(hostname) $i"; sleep 0.1; done'];

interface Follower {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function follow(url: string, ...args: string[]): Follower {
  const child = spawn(process.execPath, [cliPath(), ...args], { env: { ...process.env, BICYCLE_HOST: url }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => stdout, stderr: () => stderr, closed };
}

/** Every `replica | host counter` line printed, in order, grouped by the container (its hostname). */
function countersByContainer(stdout: string, service: string): Map<string, { replica: string; counters: number[] }> {
  const byHost = new Map<string, { replica: string; counters: number[] }>();
  for (const match of stdout.matchAll(new RegExp(`^(${service}\\.\\d+) +\\| (\\S+) (\\d+)$`, 'gm'))) {
    const [, replica, host, n] = match;
    const entry = byHost.get(host!) ?? { replica: replica!, counters: [] };
    entry.counters.push(Number(n));
    byHost.set(host!, entry);
  }
  return byHost;
}

function gaps(counters: number[]): string[] {
  const found: string[] = [];
  for (let i = 1; i < counters.length; i++) if (counters[i] !== counters[i - 1]! + 1) found.push(`${counters[i - 1]}→${counters[i]}`);
  return found;
}

describe('service logs --follow follows replacements', () => {
  let daemon: TestDaemon;
  let docker: Docker;
  const service = `follow${Date.now().toString(36)}`;

  before(async () => {
    docker = await requireDocker();
    daemon = await startDaemon();
    const res = await api(daemon.url).post('/services?wait=true&timeout=60', { name: service, image: TEST_IMAGE, replicas: 2, command: COUNTER });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  });
  after(async () => {
    await daemon?.stop();
  });

  test('a killed replica\'s replacement shows within seconds; the other replica\'s counter has no gap; removal ends the follow', async () => {
    const f = follow(daemon.url, 'service', 'logs', service, '--follow', '--tail', '0');
    // Beside the CLI, a plain HTTP client of the text format (what curl shows).
    const plain = fetch(`${daemon.url}/services/${service}/logs?follow=true&tail=0`).then(async (res) => ({ type: res.headers.get('content-type'), text: await res.text() }));
    try {
      // Both replicas print.
      await waitFor('lines of both replicas', async () => countersByContainer(f.stdout(), service).size === 2, 10_000, 100);
      const before = countersByContainer(f.stdout(), service);
      const [victimHost, victim] = [...before.entries()].find(([, e]) => e.replica === `${service}.1`)!;
      const [survivorHost, survivor] = [...before.entries()].find(([, e]) => e.replica === `${service}.2`)!;
      const list = await docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } });
      const target = list.find((c) => c.Id.startsWith(victimHost) || c.Id.slice(0, 12) === victimHost);
      assert.ok(target, `a running container whose hostname is ${victimHost}: ${list.map((c) => c.Id.slice(0, 12)).join(', ')}`);
      const killedAt = Date.now();
      await docker.getContainer(target.Id).kill();

      // The replacement of slot 1 (another container, another hostname) prints in the same command.
      const newcomer = () => [...countersByContainer(f.stdout(), service).entries()].find(([host, e]) => e.replica === victim.replica && host !== victimHost);
      const [replacementHost] = await waitFor("the replacement's first line", async () => newcomer(), 15_000, 20);
      const shownAt = Date.now();
      const started = await waitFor('the replacement container', async () => {
        const all = await docker.listContainers({ all: true, filters: { label: [`io.bicycle.service=${service}`] } });
        const c = all.find((x) => x.Id.startsWith(replacementHost));
        return c && new Date((await docker.getContainer(c.Id).inspect()).State.StartedAt).getTime();
      }, 5000);
      const sinceStartMs = shownAt - started;
      assert.ok(sinceStartMs < 1500, `the replacement's first line was shown ${sinceStartMs} ms after its container started`);
      const [, replacementLines] = await waitFor('three lines of the replacement', async () => {
        const found = newcomer();
        return found && found[1].counters.length >= 3 ? found : undefined;
      }, 5000, 50);
      assert.deepEqual(replacementLines.counters.slice(0, 3), [1, 2, 3], `the replacement ${replacementHost} is shown from its first line`);

      // A second more of the survivor, then: every line of it, consecutive.
      const survivorCount = countersByContainer(f.stdout(), service).get(survivorHost)!.counters.length;
      await waitFor('more survivor lines', async () => countersByContainer(f.stdout(), service).get(survivorHost)!.counters.length >= survivorCount + 10, 5000, 50);
      const after = countersByContainer(f.stdout(), service);
      const survivorCounters = after.get(survivorHost)!.counters;
      assert.deepEqual(gaps(survivorCounters), [], `the survivor's counter has no gap and no repeat (${survivorCounters.length} lines)`);
      assert.ok(survivorCounters.length > survivor.counters.length + 10);
      // The killed container's lines and the replacement's: each consecutive, none twice.
      assert.deepEqual(gaps(after.get(victimHost)!.counters), [], 'the killed replica\'s lines up to its end, none twice');
      assert.deepEqual(gaps(after.get(replacementHost)!.counters), [], "the replacement's lines, none twice");
      assert.equal(after.size, 3, `three containers printed: ${[...after.keys()].join(', ')}`);
      console.log(`the replacement's first line shown ${shownAt - killedAt} ms after docker kill, ${sinceStartMs} ms after its container started`);

      // Removing the service ends the follow with a last line, exit 0.
      assert.equal((await api(daemon.url).delete(`/services/${service}`)).status, 202);
      const end = await Promise.race([f.closed, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
      assert.notEqual(end, 'timeout', `the follow did not end after the removal; stdout tail: ${f.stdout().slice(-300)}`);
      assert.deepEqual(end, { code: 0, signal: null }, f.stderr());
      assert.equal(f.stdout().trimEnd().split('\n').at(-1), `--- service ${service} removed ---`);
      const curl = await plain;
      assert.equal(curl.type, 'text/plain; charset=utf-8');
      assert.equal(curl.text.trimEnd().split('\n').at(-1), `--- service ${service} removed ---`);
      const curlContainers = countersByContainer(curl.text, service);
      assert.deepEqual([...curlContainers.keys()].sort(), [victimHost, survivorHost, replacementHost].sort(), 'the text stream carries the same three containers');
      for (const [host, entry] of curlContainers) assert.deepEqual(gaps(entry.counters), [], `text stream, container ${host}`);
    } finally {
      f.child.kill('SIGKILL');
    }
  });

  test('a scale-up and an update: the added replica and the updated ones show in the running follow, each from its first line', async () => {
    const name = `${service}-c`;
    const res = await api(daemon.url).post('/services?wait=true&timeout=60', { name, image: TEST_IMAGE, replicas: 1, command: COUNTER });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const f = follow(daemon.url, 'service', 'logs', name, '-f', '--tail', '0');
    try {
      await waitFor('the first replica', async () => countersByContainer(f.stdout(), name).size === 1, 10_000, 100);
      assert.equal((await api(daemon.url).patch(`/services/${name}`, { replicas: 2 })).status, 200);
      await waitFor(`${name}.2 in the follow`, async () => [...countersByContainer(f.stdout(), name).values()].some((e) => e.replica === `${name}.2`), 15_000, 50);
      const beforeUpdate = new Set(countersByContainer(f.stdout(), name).keys());
      assert.equal((await api(daemon.url).patch(`/services/${name}`, { env: { ROUND: '2' } })).status, 200);
      const updated = await waitFor('both slots\' updated containers in the follow', async () => {
        const fresh = [...countersByContainer(f.stdout(), name).entries()].filter(([host, e]) => !beforeUpdate.has(host) && e.counters.length >= 2);
        return new Set(fresh.map(([, e]) => e.replica)).size === 2 ? fresh : undefined;
      }, 30_000, 100);
      for (const [host, entry] of updated) assert.deepEqual(entry.counters.slice(0, 2), [1, 2], `updated container ${host} from its first line`);
      for (const [host, entry] of countersByContainer(f.stdout(), name)) assert.deepEqual(gaps(entry.counters), [], `container ${host} (${entry.replica}), none lost, none twice`);
    } finally {
      f.child.kill('SIGKILL');
    }
  });

  test('Ctrl-C ends a follow at once, by the signal', async () => {
    const res = await api(daemon.url).post('/services?wait=true&timeout=60', { name: `${service}-b`, image: TEST_IMAGE, replicas: 1, command: COUNTER });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const f = follow(daemon.url, 'service', 'logs', `${service}-b`, '-f');
    await waitFor('a line', async () => countersByContainer(f.stdout(), `${service}-b`).size === 1, 10_000, 100);
    const at = Date.now();
    f.child.kill('SIGINT');
    const end = await f.closed;
    assert.deepEqual(end, { code: null, signal: 'SIGINT' });
    assert.ok(Date.now() - at < 2000, `ended ${Date.now() - at} ms after SIGINT`);
    assert.equal(f.stderr(), '');
  });
});
