import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { freePort } from '../helpers/daemon';
import { waitFor } from '../helpers/wait';

// The HA front door the project's sources ask for: a real HAProxy (Debian's)
// in front of three hosts' APIs, health-checking GET /healthz. A client that
// only knows HAProxy's address keeps writing while the leader's host is
// lost; every write it was told succeeded is on the surviving hosts. The
// sample configuration is docs/front-door.md's.

const HAPROXY = '/usr/sbin/haproxy';

/** The configuration docs/front-door.md shows, for these backends. */
function haproxyConfig(bind: string, backends: Array<{ name: string; address: string }>): string {
  return [
    'global',
    '  maxconn 512',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 30s',
    // A connection refused or reset before a request was sent is retried on another host (never a request a host has seen).
    '  retries 3',
    '  option redispatch',
    'frontend bicycle_api',
    `  bind ${bind}`,
    '  default_backend bicycle_hosts',
    'backend bicycle_hosts',
    '  balance roundrobin',
    // /healthz answers 200 while the node serves, with or without a token (it names the leader).
    '  option httpchk GET /healthz',
    '  http-check expect status 200',
    '  default-server inter 250ms fall 2 rise 2',
    ...backends.map((b) => `  server ${b.name} ${b.address} check`),
    '',
  ].join('\n');
}

interface Write { name: string; sentAt: number; status: number | string }

describe('an HAProxy front door to three hosts', () => {
  let lab: Lab;
  let haproxy: ChildProcess | undefined;
  let front: string;
  let token: string | undefined;

  before(async () => {
    await requireDocker();
    assert.ok(existsSync(HAPROXY), `${HAPROXY} is missing: install Debian's haproxy package (.ci/run does)`);
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-front-')), 3, { subnet: freeSubnet() });
    await lab.up();
    token = lab.adminToken;
    const port = await freePort();
    front = `http://127.0.0.1:${port}`;
    const config = join(lab.dir, 'haproxy.cfg');
    writeFileSync(config, haproxyConfig(`127.0.0.1:${port}`, lab.hosts.map((h) => ({ name: h.name, address: h.address }))));
    haproxy = spawn(HAPROXY, ['-f', config, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    haproxy.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    await waitFor(`HAProxy on ${front}`, async () => (await fetch(`${front}/healthz`).catch(() => undefined))?.ok === true, 10_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}; HAProxy said: ${stderr.trim() || '(nothing)'}`);
    });
  });
  after(async () => {
    haproxy?.kill('SIGKILL');
    await lab?.down();
  });

  test('a client writing through HAProxy while the leader\'s host is lost: every acknowledged write survives', async (t) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const leader = ((await (await fetch(`${front}/healthz`)).json()) as { leader: string }).leader;
    const victim = lab.hosts.find((h) => h.name === leader)!;
    const writes: Write[] = [];
    const t0 = Date.now();
    let killedAt = 0;
    let n = 0;
    const writer = async (until: () => boolean) => {
      while (!until()) {
        const name = `fd-${n++}`;
        const sentAt = Date.now() - t0;
        const status = await fetch(`${front}/services`, {
          method: 'POST', headers: { ...headers, 'idempotency-key': name },
          body: JSON.stringify({ name, image: TEST_IMAGE, replicas: 0 }), signal: AbortSignal.timeout(10_000),
        }).then((r) => r.status, (e: Error) => e.name);
        writes.push({ name, sentAt, status });
      }
    };
    // Two writers, for 3 s before the kill and 10 s after it.
    const done = () => killedAt > 0 && Date.now() - t0 > killedAt + 10_000;
    const writing = Promise.all([writer(done), writer(done)]);
    await new Promise((r) => setTimeout(r, 3000));
    killedAt = Date.now() - t0;
    await lab.kill(victim.index);
    await writing;

    const acked = writes.filter((w) => w.status === 201);
    const failed = writes.filter((w) => w.status !== 201);
    const afterKill = writes.filter((w) => w.sentAt >= killedAt);
    t.diagnostic(`${leader} (the leader) killed at ${killedAt} ms; ${writes.length} writes, ${acked.length} acknowledged, ${failed.length} not: ${JSON.stringify(failed.map((w) => `${w.sentAt}ms:${w.status}`))}`);
    t.diagnostic(`after the kill: ${afterKill.length} writes, ${afterKill.filter((w) => w.status === 201).length} acknowledged`);
    assert.ok(acked.filter((w) => w.sentAt < killedAt).length > 0, 'writes went through before the kill');
    const lastSecond = writes.filter((w) => w.sentAt > killedAt + 8000);
    assert.ok(lastSecond.length > 0 && lastSecond.every((w) => w.status === 201), `the front door serves writes again after the loss: ${JSON.stringify(lastSecond.map((w) => w.status))}`);

    // Every acknowledged write is on every surviving host.
    for (const host of lab.hosts.filter((h) => h !== victim)) {
      const names = await waitFor(`${host.name} to list every acknowledged write`, async () => {
        const res = await fetch(`${host.url}/services`);
        if (!res.ok) return undefined;
        const listed = new Set(((await res.json()) as { services: Array<{ name: string }> }).services.map((s) => s.name));
        return acked.every((w) => listed.has(w.name)) ? listed : undefined;
      }, 15_000, 250);
      t.diagnostic(`${host.name}: ${acked.length} of ${acked.length} acknowledged writes present (${[...names].filter((x) => x.startsWith('fd-')).length} fd-* services in all)`);
    }
  });
});
