import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../scripts/lab/lab';
import { runFaultHistory } from '../scripts/lab/fault-history';

/**
 * `npm run soak:cluster`: the fault run of test/cluster/faults.test.ts, longer
 * (BICYCLE_SOAK_MS, default 5 minutes) and for several seeds in a row
 * (BICYCLE_SOAK_RUNS, default 1), on a fresh 3-host lab each. Prints one
 * JSON report per run and exits 1 at the first run that breaks a rule.
 */
async function main(): Promise<void> {
  const runs = Number(process.env.BICYCLE_SOAK_RUNS ?? 1);
  const durationMs = Number(process.env.BICYCLE_SOAK_MS ?? 300_000);
  let failed = false;
  for (let r = 0; r < runs; r++) {
    const seed = Number(process.env.BICYCLE_FAULT_SEED ?? Date.now() % 1_000_000) + r;
    const lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-soak-')), 3, { subnet: freeSubnet() });
    try {
      await lab.up();
      const report = await runFaultHistory(lab, {
        durationMs, faultEveryMs: [8000, 10_000], faultMs: 3000, clients: 4, registers: 3, seed, image: 'bicycle/busybox:test',
        log: (line) => process.stderr.write(`  ${line}\n`),
      });
      process.stdout.write(`${JSON.stringify(report)}\n`);
      if (!report.linearizable || report.creates.lost.length > 0 || report.crashes.length > 0) failed = true;
    } finally {
      await lab.down();
    }
    if (failed) break;
  }
  process.exit(failed ? 1 : 0);
}

main().catch((error: Error) => {
  process.stderr.write(`soak: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
