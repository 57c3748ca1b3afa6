import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { removeDataDir, startDaemon, type TestDaemon } from '../helpers/daemon';
import { execInContainer, requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { runCli } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

/** Every form a value could leak in: as is, in base64 (how the API carries it), in hex. */
function forms(value: string): string[] {
  return [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')];
}

function assertAbsent(where: string, text: string, values: readonly string[]): void {
  for (const value of values) for (const form of forms(value)) assert.ok(!text.includes(form), `${where} shows a secret value (${form.slice(0, 8)}…)`);
}

/** Every file under `dir`, recursively, with its bytes. */
function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push({ path, bytes: readFileSync(path) });
  }
  return out;
}

/** Follows GET /events from now; `stop()` hangs up and gives everything read (the log is compacted often here, so it is read live). */
async function followEvents(url: string): Promise<{ stop(): Promise<string> }> {
  const controller = new AbortController();
  const res = await fetch(`${url}/events`, { signal: controller.signal });
  assert.equal(res.status, 200);
  let text = '';
  const reader = res.body!.getReader();
  const done = (async () => {
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += Buffer.from(chunk.value).toString();
      }
    } catch {
      // hung up
    }
  })();
  return {
    async stop() {
      controller.abort();
      await done;
      return text;
    },
  };
}

/** Unmounts every mount stacked at `path` (none is no error). */
function unmountAll(path: string): void {
  for (let i = 0; i < 10; i++) {
    try {
      execFileSync('umount', ['-l', path], { stdio: 'ignore' });
    } catch {
      return;
    }
  }
}

/**
 * Secrets on one real bicycled and the real engine: created from a file,
 * mounted as a read-only file on a tmpfs, updated (the replicas roll and the
 * new containers read the new value), rolled back (the old value again),
 * refused removal while used; the value nowhere else: not in `docker
 * inspect`, the containers' environment, GET /state, the service, /events,
 * /metrics, the daemon's log, nor the data directory's files.
 */
describe('secrets on a real daemon', () => {
  let daemon: TestDaemon;
  let docker: Docker;
  const files = mkdtempSync(join(tmpdir(), 'bicycle-secret-values-'));
  const first = `first-${randomBytes(16).toString('hex')}`;
  const second = `second-${randomBytes(16).toString('hex')}`;
  writeFileSync(join(files, 'first'), first);
  writeFileSync(join(files, 'second'), second);

  before(async () => {
    docker = await requireDocker();
    // Snapshots every few entries, so the snapshot rows are grepped too.
    daemon = await startDaemon({ config: { voting: { snapshotEveryEntries: 10 } } });
  });
  after(async () => {
    await daemon?.stop();
    // The daemon's tmpfs stays while containers use it; the containers are gone now.
    if (daemon) {
      unmountAll(join(daemon.dataDir, 'secrets'));
      removeDataDir(daemon.dataDir);
    }
    rmSync(files, { recursive: true, force: true });
  });

  const running = async () => docker.listContainers({ filters: { label: ['io.bicycle.service=web'], status: ['running'] } });
  const readAll = async () => Promise.all((await running()).map((c) => execInContainer(docker, c.Id, ['cat', '/run/secrets/db'])));

  test('create, mount, update (rolls), rollback, refused rm, and the value shown nowhere else', async () => {
    const events = await followEvents(daemon.url);
    const created = await runCli(daemon.url, 'secret', 'create', 'db-pass', join(files, 'first'));
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^[0-9a-f]{24}\n$/);
    assert.equal(statSync(join(daemon.dataDir, 'secrets.key')).mode & 0o777, 0o600);

    const added = await runCli(daemon.url, 'service', 'add', 'web', '--image', TEST_IMAGE, '--replicas', '2',
      '--secret', 'src=db-pass,target=/run/secrets/db,mode=0400', '--', 'sleep', '3600');
    assert.equal(added.code, 0, added.stderr);
    const containers = await running();
    assert.equal(containers.length, 2);
    for (const c of containers) {
      assert.equal(await execInContainer(docker, c.Id, ['cat', '/run/secrets/db']), first);
      const mounts = await execInContainer(docker, c.Id, ['mount']);
      assert.match(mounts, /^tmpfs on \/run\/secrets\/db type tmpfs \(ro,/m, mounts);
      assert.equal((await execInContainer(docker, c.Id, ['stat', '-c', '%a', '/run/secrets/db'])).trim(), '400');
      assertAbsent('the container\'s environment', await execInContainer(docker, c.Id, ['env']), [first]);
      const inspected = await docker.getContainer(c.Id).inspect();
      assertAbsent('docker inspect', JSON.stringify(inspected), [first]);
      const mount = inspected.Mounts.find((m) => m.Destination === '/run/secrets/db');
      assert.equal(mount?.Type, 'bind');
      assert.equal(mount?.RW, false);
      assert.ok(mount?.Source.startsWith(join(daemon.dataDir, 'secrets') + '/'), mount?.Source);
    }

    const ls = await runCli(daemon.url, 'secret', 'ls');
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^NAME\s+ID\s+VERSION\s+UPDATED\s+SERVICES\ndb-pass\s+[0-9a-f]{12}\s+1\s+\S+\s+web\n$/);

    const refused = await runCli(daemon.url, 'secret', 'rm', 'db-pass');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /secret db-pass is used by service web; remove it from them first \(`bicycle service update web --secret-rm db-pass`\)/);

    const before = new Set(containers.map((c) => c.Id));
    const updated = await runCli(daemon.url, 'secret', 'update', 'db-pass', join(files, 'second'));
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, /db-pass is at version 2; rolling web/);
    await waitFor('web rolled to the new value', async () => {
      const service = (await api(daemon.url).get('/services/web')).body;
      const now = await running();
      if (service.state !== 'RUNNING' || service.specVersion !== 2 || now.length !== 2 || now.some((c) => before.has(c.Id))) return false;
      return (await readAll()).every((v) => v === second);
    }, 90_000);
    const web = (await api(daemon.url).get('/services/web')).body;
    assert.deepEqual(web.secrets, [{ source: 'db-pass', target: '/run/secrets/db', mode: '0400', version: 2 }]);
    assert.equal(web.updateStatus.kind, 'update');
    // The replaced containers' files went with them: one directory per running task.
    await waitFor('the old tasks\' secret files removed', () => readdirSync(join(daemon.dataDir, 'secrets')).length === 2, 30_000);

    const rolledBack = await runCli(daemon.url, 'service', 'rollback', 'web');
    assert.equal(rolledBack.code, 0, rolledBack.stderr);
    await waitFor('web back on the first value', async () => {
      const service = (await api(daemon.url).get('/services/web')).body;
      if (service.state !== 'ROLLED_BACK' && service.state !== 'RUNNING') return false;
      const values = await readAll();
      return values.length === 2 && values.every((v) => v === first);
    }, 90_000);

    // Nowhere else.
    const values = [first, second];
    assertAbsent('GET /state', JSON.stringify((await api(daemon.url).get('/state')).body), values);
    assertAbsent('GET /services/web', JSON.stringify((await api(daemon.url).get('/services/web')).body), values);
    assertAbsent('GET /services/web/history', JSON.stringify((await api(daemon.url).get('/services/web/history')).body), values);
    assertAbsent('GET /secrets', JSON.stringify((await api(daemon.url).get('/secrets')).body), values);
    const inspect = await runCli(daemon.url, 'service', 'inspect', 'web');
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /db-pass/);
    assertAbsent('service inspect', inspect.stdout, values);
    const seen = await events.stop();
    assert.match(seen, /"type":"secret","action":"create"/);
    assert.match(seen, /"type":"secret","action":"update"/);
    assertAbsent('GET /events', seen, values);
    assertAbsent('GET /metrics', await (await fetch(`${daemon.url}/metrics`)).text(), values);

    // Off the service, then removable.
    const off = await runCli(daemon.url, 'service', 'update', 'web', '--secret-rm', 'db-pass');
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual((await api(daemon.url).get('/services/web')).body.secrets, []);
    const removed = await runCli(daemon.url, 'secret', 'rm', 'db-pass');
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual((await api(daemon.url).get('/secrets')).body.secrets, []);

    assertAbsent('the daemon\'s log', daemon.output(), values);
  });

  test('the data directory\'s database, WAL and snapshots hold no plaintext', async () => {
    const snapshots = (await api(daemon.url).get('/metrics')).status;
    assert.equal(snapshots, 200);
    await daemon.stop();
    const found = filesUnder(daemon.dataDir).filter((f) => !f.path.startsWith(join(daemon.dataDir, 'secrets') + '/'));
    assert.ok(found.some((f) => f.path.endsWith('bicycle.db')), found.map((f) => f.path).join(', '));
    for (const { path, bytes } of found) {
      for (const value of [first, second]) {
        for (const form of forms(value)) assert.equal(bytes.indexOf(form), -1, `${path} holds a secret value`);
      }
    }
    const db = readFileSync(join(daemon.dataDir, 'bicycle.db'));
    assert.ok(db.includes('db-pass'), 'the database names the secret (a sanity check of the grep)');
  });
});
