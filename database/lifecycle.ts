/**
 * A service's lifecycle settings (docs/deployment.md, "Health, restarts and
 * updates"): its health check, what happens when a replica ends, how an
 * update and a rollback roll, and how long a container has to stop. Swarm's
 * names and defaults, so that users' habits carry over; durations are kept in
 * milliseconds and shown as Go-style strings ("5s", "1m30s").
 */

/** Passed to the engine; absent: the image's own HEALTHCHECK, if any. `["NONE"]` turns the image's off. */
export interface HealthcheckSpec {
  /** ["CMD", arg…] | ["CMD-SHELL", "command"] | ["NONE"] */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export type RestartCondition = 'any' | 'on-failure' | 'none';

export interface RestartPolicy {
  /** `any`: every ended replica is replaced; `on-failure`: one that exits 0 is COMPLETE and stays so; `none`: none is replaced. */
  condition: RestartCondition;
  /** A fixed wait before a replacement; null: the back-off (at once, then 1 s, 2 s, 4 s … 10 s). */
  delayMs: number | null;
  /** Replacements per slot before it is given up (0: no limit), counted over `windowMs` (0: the slot's whole life on this spec). */
  maxAttempts: number;
  windowMs: number;
}

export type FailureAction = 'pause' | 'continue' | 'rollback';

export interface UpdatePolicy {
  /** Slots replaced at once. */
  parallelism: number;
  /** Wait after a slot's new replica is healthy before the next slot starts. */
  delayMs: number;
  /** `stop-first`: the old replica stops, then the new one starts; `start-first`: the old one stops once the new one is healthy. */
  order: 'stop-first' | 'start-first';
  /** How long after a new replica is healthy a failure of it still counts against the update; the update completes this long after the last one. */
  monitorMs: number;
  /** The share of updated replicas that may fail before `failureAction` is taken (0: the first failure). */
  maxFailureRatio: number;
  failureAction: FailureAction;
  /** A new replica that is not running and healthy this long after it was created has failed. */
  healthyDeadlineMs: number;
  /** An update during which no replica became healthy for this long takes its failure action. */
  progressDeadlineMs: number;
}

/** The settings as given on the service; each absent field takes its default. */
export interface LifecycleSettings {
  restart?: Partial<RestartPolicy>;
  update?: Partial<UpdatePolicy>;
  rollback?: Partial<UpdatePolicy>;
  stopGracePeriodMs?: number;
}

/** Docker's own defaults for a health check's timings. */
export const HEALTHCHECK_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 } as const;

export const RESTART_DEFAULTS: RestartPolicy = { condition: 'any', delayMs: null, maxAttempts: 0, windowMs: 0 };

/** Swarm's defaults, but for parallelism (the cluster's `deployment.updateParallelism`) and the deadlines (Nomad's). */
export function updateDefaults(parallelism: number): UpdatePolicy {
  return {
    parallelism,
    delayMs: 0,
    order: 'stop-first',
    monitorMs: 5_000,
    maxFailureRatio: 0,
    failureAction: 'pause',
    healthyDeadlineMs: 5 * 60_000,
    progressDeadlineMs: 10 * 60_000,
  };
}

export const STOP_GRACE_DEFAULT_MS = 10_000;

/** The policies in effect for a service, every field present. */
export interface Lifecycle {
  restart: RestartPolicy;
  update: UpdatePolicy;
  rollback: UpdatePolicy;
  stopGracePeriodMs: number;
}

export function effectiveLifecycle(settings: LifecycleSettings, defaultParallelism: number, defaultStopGraceMs = STOP_GRACE_DEFAULT_MS): Lifecycle {
  const base = updateDefaults(defaultParallelism);
  const rollback = { ...base, ...settings.rollback };
  // A rollback that fails cannot roll back again: it pauses (or continues, when asked to).
  if (rollback.failureAction === 'rollback') rollback.failureAction = 'pause';
  return {
    restart: { ...RESTART_DEFAULTS, ...settings.restart },
    update: { ...base, ...settings.update },
    rollback,
    stopGracePeriodMs: settings.stopGracePeriodMs ?? defaultStopGraceMs,
  };
}

/** Merges a change into the settings: a block given replaces the fields it names; null clears the block back to the defaults. */
export function mergeLifecycle(
  current: LifecycleSettings,
  changes: { restart?: Partial<RestartPolicy> | null; update?: Partial<UpdatePolicy> | null; rollback?: Partial<UpdatePolicy> | null; stopGracePeriodMs?: number | null },
): LifecycleSettings {
  const next: LifecycleSettings = { ...current };
  for (const key of ['restart', 'update', 'rollback'] as const) {
    const change = changes[key];
    if (change === undefined) continue;
    if (change === null) delete next[key];
    else (next as Record<string, unknown>)[key] = { ...(current[key] ?? {}), ...change };
  }
  if (changes.stopGracePeriodMs !== undefined) {
    if (changes.stopGracePeriodMs === null) delete next.stopGracePeriodMs;
    else next.stopGracePeriodMs = changes.stopGracePeriodMs;
  }
  return next;
}

/** Keys sorted at every level, so that equal settings compare equal as text. */
export function canonicalLifecycleJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}

// ---- durations ------------------------------------------------------------

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration ("300ms", "5s", "1m30s", "2h") into ms; a bare
 * number is ms. Returns null when the text is not a duration.
 */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return null;
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) total += Number(amount) * UNIT_MS[unit!]!;
  return Number.isFinite(total) ? Math.round(total) : null;
}

/** 90000 → "1m30s", 1500 → "1.5s", 250 → "250ms", 0 → "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = ms;
  let out = '';
  const h = Math.floor(rest / 3_600_000);
  if (h > 0) {
    out += `${h}h`;
    rest -= h * 3_600_000;
  }
  const m = Math.floor(rest / 60_000);
  if (m > 0) {
    out += `${m}m`;
    rest -= m * 60_000;
  }
  if (rest > 0) out += `${Number((rest / 1000).toFixed(3))}s`;
  return out;
}
