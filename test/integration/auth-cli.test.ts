import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDataDir, startDaemon, type TestDaemon } from '../helpers/daemon';
import { runCliWithEnv, type CliResult } from '../helpers/cli';

/** `bicycle token …`, `context …`, `audit` and the --token / BICYCLE_TOKEN / context precedence, as real CLI processes against a real daemon off loopback. */

function lanAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('this test needs a non-loopback IPv4 address on this machine (none found)');
}

describe('the CLI with API tokens', () => {
  let daemon: TestDaemon;
  let lan: string;
  let local: string;
  let config: string;
  let admin: string;
  /** The CLI with its own config directory, no BICYCLE_HOST/TOKEN/CONTEXT of the test's environment, plus `env`. */
  const cli = (env: Record<string, string>, ...args: string[]): Promise<CliResult> =>
    runCliWithEnv({ XDG_CONFIG_HOME: config, BICYCLE_HOST: '', BICYCLE_TOKEN: '', BICYCLE_CONTEXT: '', ...env }, ...args);

  before(async () => {
    daemon = await startDaemon({ host: lanAddress(), env: { BICYCLE_INSECURE: 'true' } });
    lan = daemon.url;
    local = `http://127.0.0.1:${new URL(lan).port}`;
    config = mkdtempSync(join(tmpdir(), 'bicycle-cli-config-'));
  });

  after(async () => {
    await daemon?.stop();
    if (daemon) removeDataDir(daemon.dataDir);
    if (config) rmSync(config, { recursive: true, force: true });
  });

  test('token create on the loopback prints the token once; off loopback a command without it fails saying what to do', async () => {
    const made = await cli({}, '--host', local, 'token', 'create', '--role', 'admin', '--name', 'ops');
    assert.equal(made.code, 0, made.stderr);
    admin = made.stdout.trim();
    assert.match(admin, /^BAT1-[0-9a-f]{16}-[A-Za-z0-9_-]{43}$/);
    assert.match(made.stderr, /token ops \(accessor [0-9a-f]{16}, role admin\); the secret is shown only now/);

    const refused = await cli({}, '--host', lan, 'service', 'ls');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^bicycle: GET \/services needs an API token: send Authorization: Bearer <token>/);
    const ok = await cli({}, '--host', lan, '--token', admin, 'service', 'ls');
    assert.equal(ok.code, 0, ok.stderr);
    const fromEnv = await cli({ BICYCLE_HOST: lan, BICYCLE_TOKEN: admin }, 'node', 'ls');
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
  });

  test('token create --ttl, token ls (never a secret), token rm; a removed token is refused', async () => {
    const made = await cli({}, '--host', lan, '--token', admin, 'token', 'create', '--role', 'read', '--name', 'ci', '--ttl', '24h', '--json');
    assert.equal(made.code, 0, made.stderr);
    const ci = JSON.parse(made.stdout) as { token: string; accessor: string; expiresAt: string; role: string };
    assert.equal(ci.role, 'read');
    const lifetimeMs = Date.parse(ci.expiresAt) - Date.now();
    assert.ok(lifetimeMs > 23.9 * 3600_000 && lifetimeMs <= 24 * 3600_000, ci.expiresAt);

    const ls = await cli({}, '--host', lan, '--token', admin, 'token', 'ls');
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^ACCESSOR\s+NAME\s+ROLE\s+CREATED\s+EXPIRES\s+CREATED BY/);
    assert.match(ls.stdout, new RegExp(`${ci.accessor}\\s+ci\\s+read\\s+\\S+\\s+${ci.expiresAt.replace(/\./g, '\\.')}\\s+ops`));
    assert.ok(!ls.stdout.includes(ci.token.split('-').slice(2).join('-')) && !ls.stdout.includes(admin.split('-').slice(2).join('-')), 'a secret in token ls');

    const readOnly = await cli({}, '--host', lan, '--token', ci.token, 'service', 'rm', 'web');
    assert.equal(readOnly.code, 1);
    assert.match(readOnly.stderr, /the token ci has the role read; DELETE \/services\/web needs operator or admin/);

    const rm = await cli({}, '--host', lan, '--token', admin, 'token', 'rm', 'ci');
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, 'ci\n');
    const gone = await cli({}, '--host', lan, '--token', ci.token, 'service', 'ls');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /is not valid in this cluster/);
    const again = await cli({}, '--host', lan, '--token', admin, 'token', 'rm', 'ci');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no token with accessor id or name ci/);
  });

  test('contexts: add (mode 0600), use, ls without tokens, --context, precedence flags > --context > env > current, rm', async () => {
    const add = await cli({}, 'context', 'add', 'prod', '--host', lan, '--token', admin);
    assert.equal(add.code, 0, add.stderr);
    const file = join(config, 'bicycle', 'contexts.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(config, 'bicycle')).mode & 0o777, 0o700);
    assert.match(add.stderr, /saved context prod in .*contexts\.json \(current\)/);
    assert.equal((await cli({}, 'context', 'add', 'dev', '--host', '127.0.0.1:1')).code, 0);

    // The first context added became current: commands use it with no flag at all.
    const viaCurrent = await cli({}, 'service', 'ls');
    assert.equal(viaCurrent.code, 0, viaCurrent.stderr);

    const ls = await cli({}, 'context', 'ls');
    assert.match(ls.stdout, /^CURRENT\s+NAME\s+HOST\s+TOKEN\s+CA\n/);
    assert.match(ls.stdout, /\n\s+dev\s+http:\/\/127\.0\.0\.1:1\s+none/);
    assert.match(ls.stdout, new RegExp(`\\*\\s+prod\\s+${lan.replace(/\./g, '\\.')}\\s+saved`));
    assert.ok(!ls.stdout.includes(admin), 'context ls printed a token');

    assert.equal((await cli({}, 'context', 'use', 'dev')).code, 0);
    assert.equal((await cli({}, 'service', 'ls')).code, 1, 'dev points nowhere');
    assert.equal((await cli({}, '--context', 'prod', 'service', 'ls')).code, 0);
    // env beats the current context; --context beats env; a flag beats all.
    assert.equal((await cli({ BICYCLE_HOST: lan, BICYCLE_TOKEN: admin }, 'service', 'ls')).code, 0);
    const badEnv = { BICYCLE_HOST: lan, BICYCLE_TOKEN: 'BAT1-0000000000000000-' + 'A'.repeat(43) };
    assert.equal((await cli(badEnv, 'service', 'ls')).code, 1);
    assert.equal((await cli(badEnv, '--context', 'prod', 'service', 'ls')).code, 0);
    assert.equal((await cli(badEnv, '--token', admin, 'service', 'ls')).code, 0);
    const unknown = await cli({}, '--context', 'staging', 'service', 'ls');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no context named staging \(there are: prod, dev\)/);

    chmodSync(file, 0o644);
    const warned = await cli({}, '--context', 'prod', 'service', 'ls');
    assert.equal(warned.code, 0);
    assert.match(warned.stderr, /warning: .*contexts\.json holds API tokens and others can read it \(mode 0644\); run chmod 600/);
    assert.equal((await cli({}, 'context', 'rm', 'dev')).code, 0);
    // Rewritten 0600 again.
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { current: string | null; contexts: Record<string, unknown> };
    assert.equal(saved.current, null);
    assert.deepEqual(Object.keys(saved.contexts), ['prod']);
  });

  test('audit shows the writes, allowed and refused, with who and the status', async () => {
    const since = new Date().toISOString();
    await cli({}, '--host', lan, 'service', 'rm', 'nothing');
    await cli({}, '--host', lan, '--token', admin, 'service', 'rm', 'nothing');
    const table = await cli({}, '--host', lan, '--token', admin, 'audit', '--since', since);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^TIME\s+WHO\s+METHOD\s+PATH\s+TARGET\s+STATUS\s+FROM\n/);
    assert.match(table.stdout, /anonymous\s+DELETE\s+\/services\/nothing\s+nothing\s+401/);
    assert.match(table.stdout, /ops\s+DELETE\s+\/services\/nothing\s+nothing\s+404/);
    const json = await cli({}, '--host', lan, '--token', admin, 'audit', '--since', '1h', '--json');
    const records = JSON.parse(json.stdout) as Array<{ actor: string; method: string }>;
    assert.ok(records.some((r) => r.actor === 'ops' && r.method === 'POST'), 'the token creations are there');
    assert.ok(records.every((r) => r.method !== 'GET'));
    const reader = await cli({}, '--host', lan, '--token', admin, 'token', 'create', '--role', 'operator', '--name', 'deployer');
    const denied = await cli({}, '--host', lan, '--token', reader.stdout.trim(), 'audit');
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /GET \/audit needs admin/);
  });
});

describe('the one-host quick start', () => {
  test('bicycled on its loopback default, and the CLI with no token, no context and no flags', async () => {
    const daemon = await startDaemon();
    const config = mkdtempSync(join(tmpdir(), 'bicycle-cli-config-'));
    try {
      const env = { XDG_CONFIG_HOME: config, BICYCLE_HOST: daemon.url, BICYCLE_TOKEN: '', BICYCLE_CONTEXT: '' };
      const add = await runCliWithEnv(env, 'service', 'add', 'quick', '--image', 'bicycle/busybox:test', '--replicas', '1', '--', 'sleep', '600');
      assert.equal(add.code, 0, add.stderr);
      const ls = await runCliWithEnv(env, 'service', 'ls');
      assert.match(ls.stdout, /quick\s/);
    } finally {
      await daemon.stop();
      removeDataDir(daemon.dataDir);
      rmSync(config, { recursive: true, force: true });
    }
  });
});
