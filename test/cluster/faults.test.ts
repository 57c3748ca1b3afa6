import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { runFaultHistory } from '../../scripts/lab/fault-history';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';

// The CI-sized Jepsen-style run (npm run soak:cluster runs a longer one):
// concurrent writes and linearizable reads on random hosts of a 3-host lab
// under kill -9, full partitions, one-way partitions and pauses.

describe('under kill, partition, one-way partition and pause', () => {
  let lab: Lab;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-faults-')), 3, { subnet: freeSubnet() });
    await lab.up();
  });
  after(async () => {
    await lab?.down();
  });

  test('the history is linearizable, every acknowledged create survives, and no daemon thread crashes', async (t) => {
    const seed = Number(process.env.BICYCLE_FAULT_SEED ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed} (BICYCLE_FAULT_SEED=${seed} replays the same choices)`);
    const report = await runFaultHistory(lab, {
      durationMs: Number(process.env.BICYCLE_FAULT_MS ?? 50_000),
      faultEveryMs: [8000, 10_000],
      faultMs: 3000,
      clients: 4,
      registers: 3,
      seed,
      image: TEST_IMAGE,
      log: (line) => t.diagnostic(line),
    });
    t.diagnostic(JSON.stringify({ ...report, creates: { ...report.creates, lost: report.creates.lost.length } }));
    assert.ok(report.ok > 50, `the clients made progress: ${report.ok} operations succeeded`);
    assert.ok(Object.values(report.faults).every((n) => n > 0), `every kind of fault struck: ${JSON.stringify(report.faults)}`);
    assert.equal(report.linearizable, true, 'the register history is linearizable');
    assert.deepEqual(report.creates.lost, [], 'every acknowledged create is present');
    assert.deepEqual(report.crashes, [], 'no thread crashed and no error went uncaught');
  });
});
