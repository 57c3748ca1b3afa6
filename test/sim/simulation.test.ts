import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation, type SimReport, type SimSettings } from './simulation';

/**
 * Randomized runs of whole clusters. One seed drives one run; a failing seed
 * is printed with the command that replays it.
 *   BICYCLE_SIM_SEEDS      how many seeds (default 2000)
 *   BICYCLE_SIM_SEED_BASE  the first seed (default 1)
 *   BICYCLE_SIM_SEED       replay this one seed and print its trace
 */
const seeds = Number(process.env.BICYCLE_SIM_SEEDS ?? 2000);
const base = Number(process.env.BICYCLE_SIM_SEED_BASE ?? 1);
const only = process.env.BICYCLE_SIM_SEED;

function replayCommand(seed: number): string {
  return `BICYCLE_SIM_SEED=${seed} node --test dist/test/sim/simulation.test.js`;
}

function explain(r: SimReport): string {
  return [
    `seed ${r.seed} failed: ${r.failure}`,
    `  settings: ${JSON.stringify(r.settings)}`,
    `  replay:   ${replayCommand(r.seed)}`,
  ].join('\n');
}

function runAll(first: number, count: number, overrides: Partial<SimSettings> = {}): SimReport[] {
  const failures: SimReport[] = [];
  for (let seed = first; seed < first + count; seed++) {
    const r = runSimulation(seed, overrides);
    if (r.failure !== null) {
      failures.push(r);
      console.error(explain(r));
    }
  }
  return failures;
}

if (only !== undefined) {
  test(`replay of seed ${only}`, () => {
    const r = runSimulation(Number(only));
    console.log(r.trace.join('\n'));
    console.log(JSON.stringify({ ...r, trace: undefined }, null, 2));
    assert.equal(r.failure, null, explain(r));
  });
} else {
  describe('deterministic simulation', () => {
    test('one seed replays the same run exactly', () => {
      const a = runSimulation(base + 7);
      const b = runSimulation(base + 7);
      assert.deepEqual(b, a);
    });

    for (const nodes of [3, 5, 7]) {
      test(`${nodes} nodes under every fault, with membership changes: safety, liveness, linearizability`, () => {
        const failures = runAll(1_000_000 + nodes * 1000, 40, { nodes, membership: true, clockDrift: true });
        assert.deepEqual(failures.map((r) => r.seed), []);
      });
    }

    test(`${seeds} random seeds from ${base}: safety after every step, liveness after healing, linearizable histories`, () => {
      const started = Date.now();
      const failures = runAll(base, seeds);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`simulated ${seeds} seeds in ${seconds} s; failures: ${failures.length}`);
      assert.deepEqual(failures.map((r) => r.seed), [], `failing seeds; replay each with the command printed above`);
    });
  });
}
