/**
 * A change made under a client loop (scripts/lab/http-load.ts): the loop
 * runs from 1 s before the change to 3 s after it is done, every request a
 * new connection to the next target in turn, and each figure is taken from
 * the loop's own record of every request.
 */
import type Docker from 'dockerode';
import { startLoad, type LoadSample } from '../scripts/lab/http-load';
import { busyPct, containersByEngine, loadAverage, machineTicks, percentile, sleep } from './common';

const LEAD_MS = 1000;
const TAIL_MS = 3000;

/** The loop's figures over a span: requests answered per second, their latency (ms), the machine's busy share. */
export interface LoopSpan {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  machineBusyPct: number;
}

export interface LoadWindow {
  /** Requests of the whole window (lead, change, tail) that were answered 200, and those that failed. */
  ok: number;
  failed: number;
  /** Requests started while the change was under way: answered, failed. */
  okDuring: number;
  failedDuring: number;
  /** Failures by message, and by the target they went to. */
  errors: Record<string, number>;
  failedByTarget: Record<string, number>;
  /** What the change measured itself (request → done), in seconds. */
  updateSeconds: number;
  /** The whole load window. */
  loadSeconds: number;
  beforeUpdate: LoopSpan;
  duringUpdate: LoopSpan;
  /** Whether every running container labelled `label` afterwards is a new one. */
  replaced: boolean;
  firstFailures: Array<{ target: string; atMs: number; error: string }>;
  loadAverage: string;
}

/**
 * Runs `change` (which resolves with its own duration in seconds) under a
 * loop of `connections` through `targets` (host:port), the containers of
 * `label` on `engines` compared before and after.
 */
export async function underLoad(targets: string[], connections: number, engines: Docker[], label: string, change: () => Promise<number>): Promise<LoadWindow> {
  const before = new Set((await containersByEngine(engines, label)).flat().map((c) => c.Id));
  const t0 = Date.now();
  const load = startLoad(targets, { connections, path: '/', timeoutMs: 5000 });
  const m0 = machineTicks();
  await sleep(LEAD_MS);
  const updateAt = Date.now();
  const m1 = machineTicks();
  const updateSeconds = await change();
  const doneAt = Date.now();
  const m2 = machineTicks();
  await sleep(TAIL_MS);
  const result = await load.stop();
  const span = (from: number, to: number) => {
    const within = result.samples.filter((x) => x.error === null && x.startedAt >= from && x.startedAt < to).map((x) => x.endedAt - x.startedAt);
    return { requestsPerSecond: Math.round(within.length / ((to - from) / 1000)), p50Ms: percentile(within, 0.5), p99Ms: percentile(within, 0.99), maxMs: within.length ? Math.max(...within) : NaN };
  };
  const during = (x: LoadSample) => x.startedAt >= updateAt && x.startedAt < doneAt;
  const after = (await containersByEngine(engines, label)).flat().map((c) => c.Id);
  const errors: Record<string, number> = {};
  const failedByTarget: Record<string, number> = {};
  for (const f of result.failed) {
    errors[f.error!] = (errors[f.error!] ?? 0) + 1;
    failedByTarget[f.target] = (failedByTarget[f.target] ?? 0) + 1;
  }
  return {
    ok: result.ok,
    failed: result.failed.length,
    okDuring: result.samples.filter((x) => x.error === null && during(x)).length,
    failedDuring: result.failed.filter(during).length,
    errors,
    failedByTarget,
    updateSeconds,
    loadSeconds: (Date.now() - t0) / 1000,
    beforeUpdate: { ...span(t0, updateAt), machineBusyPct: busyPct(m0, m1) },
    duringUpdate: { ...span(updateAt, doneAt), machineBusyPct: busyPct(m1, m2) },
    replaced: after.length > 0 && after.every((id) => !before.has(id)),
    firstFailures: result.failed.slice(0, 10).map((f) => ({ target: f.target, atMs: f.startedAt - t0, error: f.error! })),
    loadAverage: loadAverage(),
  };
}
