/**
 * The update benchmark's figures (bench/update.ts): the types of its
 * results and the table it prints. Run alone, it prints the table again
 * from a results file:
 *   node dist/bench/update-report.js bench/results/update.json
 */
import { readFileSync } from 'node:fs';
import { fixed, median, table } from './common';
import type { LoadWindow } from './load-window';

export type Kind = 'good' | 'bad';

/** One system's service set-up, as measured. */
export interface Setup {
  id: string;
  system: 'bicycle' | 'swarm';
  publishing: string;
  replicas: number;
  order: 'start-first' | 'stop-first';
  /** Whether the client loop runs during the update (only where the published port serves). */
  underLoad: boolean;
}

/** One sample of an update, kept when something in it changed. */
export interface Observation {
  atS: number;
  state: string;
  healthy: number;
  /** Running containers of the service on the engines, by their health: healthy, starting (check not yet passed), unhealthy. */
  healthyContainers: number;
  startingContainers: number;
  unhealthyContainers: number;
}

/** One update, measured. */
export interface CaseResult {
  setup: string;
  kind: Kind;
  run: number;
  /** Request → the system said the update was over. */
  seconds: number;
  ended: string;
  asExpected: boolean;
  /** The system's last word on the update (Bicycle: the PATCH answer, every task; Swarm: UpdateStatus). */
  detail: unknown;
  /** Fewest healthy replicas seen, by the system's own view and by the engines', sampled every ~100 ms. */
  fewestHealthy: number;
  fewestHealthyContainers: number;
  /** Each change of state or count seen, from the request. */
  timeline: Observation[];
  /** When the system's state first said it was rolling back (ROLLING_BACK, rollback_started), s from the request; null if it never did. */
  rollbackFromS: number | null;
  /** When an engine first showed a container of the service unhealthy, s from the request; null if none did. */
  firstUnhealthyS: number | null;
  load: LoadWindow | null;
  loadAverage: string;
}


/** Per set-up and kind: the medians and each run's figures, as written into the results. */
export interface SummaryRow {
  setup: string;
  kind: Kind;
  medianSeconds: number;
  seconds: number[];
  firstUnhealthyS: Array<number | null>;
  rollbackFromS: Array<number | null>;
  ended: string[];
  okDuring: Array<number | null>;
  failedDuring: Array<number | null>;
  fewestHealthy: number[];
  fewestHealthyContainers: number[];
}

/** The median of the cases where `pick` saw the event, with "(k of N)" when not every case did; "-" when none did. */
function medianOfSeen(values: Array<number | null>): string {
  const seen = values.filter((x): x is number => x !== null);
  if (seen.length === 0) return '-';
  return fixed(median(seen), 2) + (seen.length < values.length ? ` (${seen.length} of ${values.length})` : '');
}

/** Prints the table, the mesh's absence where it applies, the duration ratios and any update that ended otherwise than expected; returns the summary. */
export function printUpdateReport(setups: Setup[], results: CaseResult[], context: { runs: number; swarm: boolean; meshProblem: string | null }): SummaryRow[] {
  const rows = setups.flatMap((setup) => (['good', 'bad'] as const).map((kind) => {
    const cases = results.filter((r) => r.setup === setup.id && r.kind === kind);
    const loads = cases.map((c) => c.load).filter((l): l is LoadWindow => l !== null);
    const sum = (pick: (l: LoadWindow) => number) => (loads.length ? String(loads.reduce((a, l) => a + pick(l), 0)) : '-');
    const rate = (pick: (l: LoadWindow) => number) => fixed(median(loads.map(pick)), 0);
    const row: SummaryRow = {
      setup: setup.id, kind, medianSeconds: median(cases.map((c) => c.seconds)), seconds: cases.map((c) => c.seconds),
      firstUnhealthyS: cases.map((c) => c.firstUnhealthyS), rollbackFromS: cases.map((c) => c.rollbackFromS), ended: cases.map((c) => c.ended),
      okDuring: cases.map((c) => c.load?.okDuring ?? null), failedDuring: cases.map((c) => c.load?.failedDuring ?? null),
      fewestHealthy: cases.map((c) => c.fewestHealthy), fewestHealthyContainers: cases.map((c) => c.fewestHealthyContainers),
    };
    const cells = [
      setup.id, setup.publishing, setup.replicas, setup.order, kind, fixed(row.medianSeconds, 2), row.seconds.map((x) => fixed(x, 2)).join(' '),
      medianOfSeen(row.firstUnhealthyS), medianOfSeen(row.rollbackFromS), [...new Set(row.ended)].join(', '),
      sum((l) => l.okDuring), sum((l) => l.failedDuring), sum((l) => l.failed),
      loads.length ? `${rate((l) => l.beforeUpdate.requestsPerSecond)} → ${rate((l) => l.duringUpdate.requestsPerSecond)}` : '-',
      Math.min(...row.fewestHealthy), Math.min(...row.fewestHealthyContainers),
    ];
    return { row, cells };
  }));
  console.log(`\nRolling update, parallelism 2, start-first where it fits, monitor 1s, failure action rollback, health check every 500ms; ${context.runs} runs; ` +
    'a loop of 8 connections through all three hosts\' port 8080 where it serves; times in s from the request\n');
  console.log(table([
    ['set-up', 'publishing', 'replicas', 'order', 'update', 'median s', 'each s', 'unhealthy from', 'rollback from', 'ended', 'ok during', 'failed during', 'failed in window', 'req/s before → during', 'fewest healthy', '(engines)'],
    ...rows.map((r) => r.cells),
  ]));
  if (context.meshProblem !== null) {
    console.log(`\nSwarm's routing mesh does not serve on this machine (${context.meshProblem}).`);
    console.log('So its same-settings update (6 replicas, start-first) is timed without load, beside Bicycle\'s without load; failed requests are measured with host-mode ports,');
    console.log('where one replica fits per node (3, not 6) and only stop-first can place the new task (the old one holds the node\'s port).');
  }
  const medianOf = (id: string, kind: Kind) => median(results.filter((r) => r.setup === id && r.kind === kind).map((r) => r.seconds));
  const pairs = context.meshProblem === null ? [['bicycle', 'swarm']] : [['bicycle', 'swarm-no-load'], ['bicycle-no-load', 'swarm-no-load']];
  if (context.swarm) {
    console.log('');
    for (const [b, s] of pairs) for (const kind of ['good', 'bad'] as const) console.log(`${b} / ${s}, ${kind} update: ${fixed(medianOf(b!, kind) / medianOf(s!, kind), 2)}×`);
  }
  for (const r of results.filter((c) => !c.asExpected)) console.log(`${r.setup} ${r.kind} run ${r.run} ended ${r.ended}: ${JSON.stringify(r.detail)}`);
  return rows.map((r) => r.row);
}

if (require.main === module) {
  const file = process.argv[2] ?? 'bench/results/update.json';
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { setups: Setup[]; results: CaseResult[]; settings: { runs: number }; swarm: { mesh?: boolean; meshProblem?: string | null } };
  printUpdateReport(saved.setups, saved.results, { runs: saved.settings.runs, swarm: saved.swarm.mesh !== undefined, meshProblem: saved.swarm.meshProblem ?? null });
}
