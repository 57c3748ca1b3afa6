import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startDaemon, type TestDaemon } from '../helpers/daemon';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { runCli, type CliResult } from '../helpers/cli';

// `bicycle service add --publish`, `service update --publish-add/--publish-rm`
// and the PORTS column, driven as a child process against a real bicycled.
// The ports are free ones: the daemon's traffic manager holds them.

const run = `clip${Date.now().toString(36)}`;
const web = `${run}-web`;
const api = `${run}-api`;

let daemon: TestDaemon;
/** Free ports, lowest first. */
let p: number[];

function bicycle(...args: string[]): Promise<CliResult> {
  return runCli(daemon.url, ...args);
}

function expectOk(result: CliResult, what: string): void {
  assert.equal(result.code, 0, `${what} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

async function portsOf(name: string): Promise<unknown[]> {
  const result = await bicycle('service', 'inspect', name);
  expectOk(result, `service inspect ${name}`);
  return JSON.parse(result.stdout).ports;
}

/** The PORTS cell of `name`'s row in `service ls`. */
async function portsColumn(name: string): Promise<string> {
  const result = await bicycle('service', 'ls');
  expectOk(result, 'service ls');
  const [header, ...rows] = result.stdout.split('\n');
  const row = rows.find((r) => r.startsWith(`${name} `));
  assert.ok(row, `${name} missing from service ls:\n${result.stdout}`);
  const at = header!.indexOf('PORTS');
  assert.ok(at > 0, `no PORTS column: ${header}`);
  return row.slice(at).trim();
}

const full = (published: number, target: number, more: Record<string, string> = {}) => ({
  published, target, protocol: 'tcp', mode: 'ingress', proxy: 'none', ...more,
});

const T = { timeout: 120_000 };

describe('bicycle --publish against a real daemon', { timeout: 600_000 }, () => {
  before(async () => {
    await requireDocker();
    daemon = await startDaemon({ name: `${run}-node` });
    const ports = new Set<number>();
    while (ports.size < 4) ports.add(await freePort('0.0.0.0'));
    p = [...ports].sort((a, b) => a - b);
  });
  after(async () => {
    if (daemon) await daemon.stop();
  });

  it('service add -p / --publish in every syntax publishes the ports; inspect and the PORTS column show them', T, async () => {
    const result = await bicycle(
      'service', 'add', web, '--image', TEST_IMAGE, '--timeout', '60',
      '-p', `${p[0]}:80`,
      '--publish', `published=${p[1]},target=443,mode=host,protocol=tcp,proxy=v2`,
      '--publish', `${p[2]}:8080/tcp,proxy=v1`,
      '--', 'sleep', '3600',
    );
    expectOk(result, 'service add');
    assert.equal(result.stdout, `${web}\n`);
    assert.deepEqual(await portsOf(web), [full(p[0]!, 80), full(p[1]!, 443, { mode: 'host', proxy: 'v2' }), full(p[2]!, 8080, { proxy: 'v1' })]);
    const table = await bicycle('service', 'ls');
    assert.match(table.stdout, /^NAME +IMAGE +REPLICAS +STATE +VERSION +PORTS\n/);
    assert.equal(await portsColumn(web), `*:${p[0]}->80/tcp, ${p[1]}->443/tcp (host, proxy v2), *:${p[2]}->8080/tcp (proxy v1)`);
  });

  it('service update --publish-add replaces the same published port and adds new ones; --publish-rm removes; nothing is restarted', T, async () => {
    const before = JSON.parse((await bicycle('service', 'inspect', web)).stdout);
    const changed = await bicycle('service', 'update', web, '--publish-add', `${p[0]}:8000`, '--publish-rm', `${p[2]}:8080`, '--timeout', '60');
    expectOk(changed, 'service update --publish-add --publish-rm');
    assert.equal(changed.stdout, `${web}\n`);
    assert.deepEqual(await portsOf(web), [full(p[0]!, 8000), full(p[1]!, 443, { mode: 'host', proxy: 'v2' })]);
    assert.equal(await portsColumn(web), `*:${p[0]}->8000/tcp, ${p[1]}->443/tcp (host, proxy v2)`);

    const removed = await bicycle('service', 'update', web, '--publish-rm', `${p[0]}`, '--publish-rm', `published=${p[1]}`, '--timeout', '60');
    expectOk(removed, 'service update --publish-rm');
    assert.deepEqual(await portsOf(web), []);
    assert.equal(await portsColumn(web), '');

    const after = JSON.parse((await bicycle('service', 'inspect', web)).stdout);
    assert.ok(after.version > before.version, 'the version moved');
    const containers = (s: any) => s.tasks.filter((t: any) => t.desiredState === 'RUNNING').map((t: any) => t.containerId).sort();
    assert.deepEqual(containers(after), containers(before), 'the same containers run');

    const back = await bicycle('service', 'update', web, '--publish-add', `${p[0]}:80`, '-d');
    expectOk(back, 'service update --publish-add');
    assert.deepEqual(await portsOf(web), [full(p[0]!, 80)]);
  });

  it('removing a port the service does not publish exits 1 naming it and changes nothing', T, async () => {
    const result = await bicycle('service', 'update', web, '--publish-rm', `${p[3]}`, '-d');
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, `bicycle: --publish-rm ${p[3]}: ${web} does not publish port ${p[3]}\n`);
    const wrongTarget = await bicycle('service', 'update', web, '--publish-rm', `${p[0]}:81`, '-d');
    assert.equal(wrongTarget.code, 1, wrongTarget.stderr);
    assert.equal(wrongTarget.stderr, `bicycle: --publish-rm ${p[0]}:81: ${web} publishes port ${p[0]} to target 80, not 81\n`);
    assert.deepEqual(await portsOf(web), [full(p[0]!, 80)]);
  });

  it("a port another service publishes exits 1 with the daemon's message naming both, and nothing is created", T, async () => {
    const added = await bicycle('service', 'add', api, '--image', TEST_IMAGE, '--replicas', '0', '-p', `${p[0]}:3000`, '-d');
    assert.equal(added.code, 1, added.stderr);
    assert.equal(added.stderr, `bicycle: published port ${p[0]} is already used by service ${web} (asked for by service ${api})\n`);
    assert.equal((await bicycle('service', 'inspect', api)).code, 1, 'the service was not created');

    expectOk(await bicycle('service', 'add', api, '--image', TEST_IMAGE, '--replicas', '0', '-p', `${p[3]}:3000`, '-d'), 'service add');
    const updated = await bicycle('service', 'update', api, '--publish-add', `${p[0]}:3000`, '-d');
    assert.equal(updated.code, 1, updated.stderr);
    assert.equal(updated.stderr, `bicycle: published port ${p[0]} is already used by service ${web} (asked for by service ${api})\n`);
    assert.deepEqual(await portsOf(api), [full(p[3]!, 3000)]);
  });

  it('a malformed --publish, --publish-add or --publish-rm exits 2 naming the problem, before calling the daemon', T, async () => {
    const cases: Array<[string[], string]> = [
      [['service', 'add', `${run}-bad`, '--image', TEST_IMAGE, '--publish', '8080:'], 'target port missing'],
      [['service', 'add', `${run}-bad`, '--image', TEST_IMAGE, '-p', 'published=x,target=80'], 'published port must be a whole number from 1 to 65535, got "x"'],
      [['service', 'add', `${run}-bad`, '--image', TEST_IMAGE, '-p', '53:53/udp'], 'protocol udp is not supported (only tcp)'],
      [['service', 'add', `${run}-bad`, '--image', TEST_IMAGE, '-p', '8080:80,proxy=v3'], 'proxy must be none, v1 or v2, got "v3"'],
      [['service', 'add', `${run}-bad`, '--image', TEST_IMAGE, '-p', '8080:80', '-p', '8080:81'], 'published port 8080 is given twice'],
      [['service', 'update', web, '--publish-add', '80'], 'published port missing'],
      [['service', 'update', web, '--publish-rm', 'http'], 'published port must be a whole number from 1 to 65535, got "http"'],
    ];
    for (const [args, message] of cases) {
      const result = await bicycle(...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.ok(result.stderr.includes(message), `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
    }
    assert.equal((await bicycle('service', 'inspect', `${run}-bad`)).code, 1, 'nothing was created');
    assert.deepEqual(await portsOf(web), [full(p[0]!, 80)]);
  });
});
