/**
 * Long soak of the Raft simulator: any number of seeds.
 *   node dist/bench/raft-soak.js [--seeds N] [--base FIRST]
 * (or BICYCLE_SIM_SEEDS / BICYCLE_SIM_SEED_BASE). Exits 1 if any seed fails,
 * printing the command that replays it.
 */
import { runSimulation } from '../test/sim/simulation';

function arg(name: string, env: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[env];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer, got ${raw}`);
  return value;
}

const seeds = arg('seeds', 'BICYCLE_SIM_SEEDS', 20_000);
const base = arg('base', 'BICYCLE_SIM_SEED_BASE', 1);
const started = Date.now();
let failures = 0;
let maxHeal = 0;
let ops = 0;
for (let seed = base; seed < base + seeds; seed++) {
  const r = runSimulation(seed);
  ops += r.ops.ok;
  if (r.failure !== null) {
    failures += 1;
    process.stdout.write(`seed ${seed} FAILED: ${r.failure}\n  replay: BICYCLE_SIM_SEED=${seed} node --test dist/test/sim/simulation.test.js\n`);
  } else if (r.healTicks > maxHeal) {
    maxHeal = r.healTicks;
  }
  const done = seed - base + 1;
  if (done % 1000 === 0 || done === seeds) {
    const s = (Date.now() - started) / 1000;
    process.stdout.write(`${done}/${seeds} seeds, ${failures} failed, ${ops} client ops checked, max ticks to settle after healing ${maxHeal}, ${s.toFixed(0)} s\n`);
  }
}
process.exitCode = failures > 0 ? 1 : 0;
