import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { freePort, removeDataDir, startDaemon, type TestDaemon } from '../helpers/daemon';
import { execInContainer, removeClusterContainers, requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { runCli } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

/**
 * Autolock on one real bicycled: the secrets key file sealed by a
 * passphrase. Started with it, the node works as before and the file no
 * longer holds the key; started without it, the node runs locked (secrets
 * can be neither created nor mounted, and it says how to unlock) until
 * `bicycle node unlock` opens it; a wrong passphrase is refused, at start
 * and by unlock; starting without --autolock (with the passphrase) opens
 * the file for good.
 */
describe('autolock on a real daemon', () => {
  let docker: Docker;
  let daemon: TestDaemon | undefined;
  let port: number;
  const dataDir = mkdtempSync(join(tmpdir(), 'bicycle-autolock-'));
  const files = mkdtempSync(join(tmpdir(), 'bicycle-autolock-files-'));
  const passphrase = `correct horse ${randomBytes(8).toString('hex')}`;
  const value = `value-${randomBytes(16).toString('hex')}`;
  writeFileSync(join(files, 'pass'), `${passphrase}\n`);
  writeFileSync(join(files, 'wrong'), 'not the passphrase\n');
  writeFileSync(join(files, 'value'), value);
  const keyFile = join(dataDir, 'secrets.key');
  let plainKey = '';
  let clusterId = '';

  const start = (env: Record<string, string>) => startDaemon({ dataDir, port, env });
  const running = async () => docker.listContainers({ filters: { label: ['io.bicycle.service=web'], status: ['running'] } });

  before(async () => {
    docker = await requireDocker();
    port = await freePort();
    daemon = await start({});
    clusterId = await daemon.clusterId();
    plainKey = readFileSync(keyFile, 'utf8').trim();
  });
  after(async () => {
    await daemon?.stop().catch(() => undefined);
    await removeClusterContainers(docker, clusterId).catch(() => undefined);
    try {
      execFileSync('umount', ['-l', join(dataDir, 'secrets')], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
    removeDataDir(dataDir);
    rmSync(files, { recursive: true, force: true });
  });

  test('--autolock with the passphrase seals the key file; secrets work as before', async () => {
    await daemon!.stop({ keepContainers: true });
    daemon = await start({ BICYCLE_AUTOLOCK: 'true', BICYCLE_UNLOCK_KEY: passphrase });
    const sealed = readFileSync(keyFile, 'utf8');
    assert.match(sealed, /^autolock:v1:/);
    assert.ok(!sealed.includes(plainKey), 'the key is no longer in the file in the clear');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.ok(!daemon.output().includes(passphrase), 'the passphrase is not in the daemon\'s output');
    const status = await runCli(daemon.url, 'node', 'lock-status');
    assert.equal(status.stdout, 'autolock on, unlocked\n', status.stderr);

    const created = await runCli(daemon.url, 'secret', 'create', 'db-pass', join(files, 'value'));
    assert.equal(created.code, 0, created.stderr);
    const added = await runCli(daemon.url, 'service', 'add', 'web', '--image', TEST_IMAGE, '--replicas', '1',
      '--secret', 'src=db-pass,target=/run/secrets/db', '--', 'sleep', '3600');
    assert.equal(added.code, 0, added.stderr);
    const [container] = await running();
    assert.equal(await execInContainer(docker, container!.Id, ['cat', '/run/secrets/db']), value);
  });

  test('without the passphrase the node runs locked: no secret is created or mounted, and it says how to unlock', async () => {
    await daemon!.stop({ keepContainers: true });
    daemon = await start({ BICYCLE_AUTOLOCK: 'true' });
    assert.match(daemon.output(), /this node is locked: secrets cannot be created or mounted here until `bicycle node unlock`/);
    assert.deepEqual((await api(daemon.url).get('/node/lock')).body, { autolock: true, locked: true });

    const refused = await runCli(daemon.url, 'secret', 'create', 'other', join(files, 'value'));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /this node is locked: its secrets key \(.*secrets\.key\) is sealed by the autolock passphrase; unlock it with `bicycle node unlock`/);

    // A new replica cannot have its secret file while locked: it waits, saying why.
    const scaled = await api(daemon.url).patch('/services/web', { replicas: 2 });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    const reason = await waitFor('a replica that says the node is locked', async () => {
      const tasks = (await api(daemon!.url).get('/services/web')).body.tasks as Array<{ state: string; error?: string | null; reason?: string | null }>;
      return tasks.map((t) => `${t.error ?? ''} ${t.reason ?? ''}`).find((text) => /this node is locked/.test(text));
    }, 30_000, 250);
    assert.match(reason, /bicycle node unlock/);
    assert.equal((await running()).length, 1, 'the replica started before stays; the new one waits');

    const wrong = await runCli(daemon.url, 'node', 'unlock', '--passphrase-file', join(files, 'wrong'));
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /the passphrase does not unlock this node's secrets key/);
    assert.deepEqual((await api(daemon.url).get('/node/lock')).body, { autolock: true, locked: true });

    const unlocked = await runCli(daemon.url, 'node', 'unlock', '--passphrase-file', join(files, 'pass'));
    assert.equal(unlocked.code, 0, unlocked.stderr);
    assert.equal(unlocked.stdout, 'unlocked: secrets can be created and mounted on this node\n');
    assert.deepEqual((await api(daemon.url).get('/node/lock')).body, { autolock: true, locked: false });
    assert.match(readFileSync(keyFile, 'utf8'), /^autolock:v1:/, 'the file stays locked');
    assert.ok(!daemon.output().includes(passphrase), 'the passphrase is not in the daemon\'s output');

    const both = await waitFor('both replicas running', async () => ((await running()).length === 2 ? running() : undefined), 60_000, 500);
    for (const c of both) assert.equal(await execInContainer(docker, c.Id, ['cat', '/run/secrets/db']), value);
    const created = await runCli(daemon.url, 'secret', 'create', 'other', join(files, 'value'));
    assert.equal(created.code, 0, created.stderr);
  });

  test('a wrong passphrase at start is refused, naming the file; --autolock without any on a plain file too', async () => {
    await daemon!.stop({ keepContainers: true });
    daemon = undefined;
    await assert.rejects(start({ BICYCLE_AUTOLOCK: 'true', BICYCLE_UNLOCK_KEY: 'not the passphrase' }),
      /the passphrase does not unlock this node's secrets key \(.*secrets\.key\)/);

    // Turning autolock off takes the passphrase once: the file is the key in the clear again.
    daemon = await start({ BICYCLE_UNLOCK_KEY: passphrase });
    assert.equal(readFileSync(keyFile, 'utf8').trim(), plainKey);
    assert.deepEqual((await api(daemon.url).get('/node/lock')).body, { autolock: false, locked: false });
    const status = await runCli(daemon.url, 'node', 'lock-status');
    assert.equal(status.stdout, 'autolock off\n');
    const notLocked = await runCli(daemon.url, 'node', 'unlock', '--passphrase-file', join(files, 'pass'));
    assert.equal(notLocked.code, 1);
    assert.match(notLocked.stderr, /this node is not locked/);

    await daemon.stop({ keepContainers: true });
    daemon = undefined;
    await assert.rejects(start({ BICYCLE_AUTOLOCK: 'true' }), /--autolock needs the passphrase that locks the secrets key: give it in BICYCLE_UNLOCK_KEY or a file named by --unlock-key-file/);
    assert.equal(readFileSync(keyFile, 'utf8').trim(), plainKey, 'a refused start leaves the key file as it was');
    daemon = await start({});
  });
});
