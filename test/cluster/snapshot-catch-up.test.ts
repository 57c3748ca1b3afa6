import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

const SERVICES = 400;
/** Each service carries about 3 KiB of environment, so the state outgrows one request (1 MiB) and one chunk (512 KiB) several times. */
const PAD = 'x'.repeat(3000);

// A manager that joins a cluster whose log was compacted long ago catches
// up from a snapshot sent in chunks over mutual TLS (several MiB: beyond the
// API's 1 MiB body limit, so it could not come in one request), and then
// serves the same services as the others.
describe('a late manager catches up from a snapshot sent in chunks', () => {
  let lab: Lab;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-snap-')), 3, { subnet: freeSubnet(), tls: true });
    for (const host of lab.hosts) {
      mkdirSync(host.dir, { recursive: true });
      // Snapshots every 100 entries: the joiner finds the log compacted.
      writeFileSync(join(host.dir, 'bicycle-config.json'), JSON.stringify({
        deployment: { concurrency: 8, updateParallelism: 2, resyncIntervalMs: 2000, stopGracePeriodMs: 2000, init: true, autoRebalance: false },
        monitoring: { statsIntervalMs: 2000 },
        voting: { snapshotEveryEntries: 100 },
      }));
    }
    await lab.up(2);
  });
  after(async () => {
    await lab?.down();
  });

  test('host-3 joins after 400 services, installs the snapshot in chunks and lists the same services', async () => {
    const names = Array.from({ length: SERVICES }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
    for (let i = 0; i < names.length; i += 20) {
      const answers = await Promise.all(names.slice(i, i + 20).map((name) =>
        api(lab.host(1).url).post('/services', { name, image: TEST_IMAGE, replicas: 0, command: ['sleep', '3600'], env: { PAD } })));
      for (const a of answers) assert.equal(a.status, 201, JSON.stringify(a.body));
    }
    await lab.join(3);
    await lab.settled(120_000, 3);

    const listed = async (i: number) =>
      ((await api(lab.host(i).url).get('/services?consistent=true')).body.services as Array<{ name: string; version: number }>).map((s) => `${s.name}@${s.version}`).sort();
    const onHost1 = await listed(1);
    assert.equal(onHost1.length, SERVICES);
    const onHost3 = await waitFor('host-3 to list every service', async () => {
      const services = await listed(3).catch(() => []);
      return services.length === SERVICES ? services : undefined;
    }, 60_000, 500);
    assert.deepEqual(onHost3, onHost1);

    // It came as a snapshot, in several chunks: the leader says so in its log.
    const sent = /sent a snapshot in chunks.*\bbytes["=:]+(\d+)/.exec(lab.output(1) + lab.output(2));
    assert.ok(sent, 'the leader logs the snapshot it sent');
    assert.ok(Number(sent[1]) > 1024 * 1024, `the snapshot (${sent[1]} bytes) is larger than one request could carry`);
  });
});
