import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { runCli, type CliResult } from '../helpers/cli';
import { execInContainer, TEST_IMAGE } from '../helpers/docker';
import { waitFor } from '../helpers/wait';

let lab: Lab;

function expectOk(result: CliResult, what: string): void {
  assert.equal(result.code, 0, `${what} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

/** The running containers of `service` in host i's own engine. */
async function runningOn(i: number, service: string) {
  return lab.host(i).docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } });
}

/**
 * A secret created through host 1 (the founder, where the key was made) is
 * read by replicas on hosts 2 and 3, which joined: they received the key
 * when they joined and open the value from their own replica of the log.
 */
describe('secrets across a lab of three hosts', { timeout: 240_000 }, () => {
  const files = mkdtempSync(join(tmpdir(), 'bicycle-lab-secret-'));
  const first = `lab-${randomBytes(16).toString('hex')}`;
  const second = `lab2-${randomBytes(16).toString('hex')}`;
  writeFileSync(join(files, 'first'), first);
  writeFileSync(join(files, 'second'), second);

  before(async () => {
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-secrets-lab-')), 3, { subnet: freeSubnet() });
    await lab.up();
  });
  after(async () => {
    await lab?.down();
    rmSync(files, { recursive: true, force: true });
  });

  test('every joined host holds the founder\'s key, mode 0600', () => {
    const keyOf = (i: number) => readFileSync(join(lab.dataDir(lab.host(i)), 'secrets.key'), 'utf8');
    for (const i of [2, 3]) {
      assert.equal(keyOf(i), keyOf(1), `host-${i}'s key`);
      assert.equal(statSync(join(lab.dataDir(lab.host(i)), 'secrets.key')).mode & 0o777, 0o600);
    }
  });

  test('replicas on the joined hosts read the value, and the new one after secret update', async () => {
    const host1 = lab.host(1).url;
    expectOk(await runCli(host1, '--host', host1, 'secret', 'create', 'api-key', join(files, 'first')), 'secret create');
    // Through host 3 (not where the secret was created): one replica per host.
    const host3 = lab.host(3).url;
    expectOk(await runCli(host3, '--host', host3, 'service', 'add', 'app', '--image', TEST_IMAGE, '--replicas', '3',
      '--secret', 'api-key', '--timeout', '90', '--', 'sleep', '3600'), 'service add');
    for (const i of [2, 3]) {
      const [container] = await runningOn(i, 'app');
      assert.ok(container, `a replica on host-${i}`);
      assert.equal(await execInContainer(lab.host(i).docker, container.Id, ['cat', '/run/secrets/api-key']), first);
      assert.match(await execInContainer(lab.host(i).docker, container.Id, ['mount']), /^tmpfs on \/run\/secrets\/api-key type tmpfs \(ro,/m);
    }
    expectOk(await runCli(host3, '--host', host3, 'secret', 'update', 'api-key', join(files, 'second')), 'secret update');
    await waitFor('every host\'s replica reads the new value', async () => {
      for (const i of [1, 2, 3]) {
        const list = await runningOn(i, 'app');
        if (list.length !== 1) return false;
        const value = await execInContainer(lab.host(i).docker, list[0]!.Id, ['cat', '/run/secrets/api-key']).catch(() => '');
        if (value !== second) return false;
      }
      return true;
    }, 120_000);
    for (const i of [1, 2, 3]) assert.ok(!lab.output(i).includes(first) && !lab.output(i).includes(second), `host-${i}'s daemon log shows a value`);
  });
});
