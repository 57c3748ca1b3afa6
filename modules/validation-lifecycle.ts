import { z } from 'zod';
import { HEALTHCHECK_DEFAULTS, parseDuration, type HealthcheckSpec, type RestartPolicy, type UpdatePolicy } from '../database/lifecycle';

/**
 * What POST and PATCH /services accept of a service's lifecycle (database/lifecycle.ts):
 * `healthcheck`, `restart`, `update`, `rollback` and `stopGracePeriod`, with
 * Swarm's and compose's names. Durations are Go-style strings ("5s",
 * "1m30s", "250ms") or a whole number of milliseconds, and leave here as
 * milliseconds under the data layer's `…Ms` names.
 */

/**
 * A week: longer than any sensible check, window or deadline, and well
 * below what a Node timer can wait (2^31 - 1 ms, about 24.8 days).
 */
export const MAX_DURATION_MS = 7 * 24 * 3_600_000;

const DURATION = 'must be a duration such as "5s" or "1m30s", or milliseconds';
const TOO_LONG = 'must be at most 168h (a week)';
const DURATION_TEXT = /^(\d+|(\d+(\.\d+)?(ms|s|m|h))+)$/;

/** A duration in ms, from text or a number; `minMs` above 0 for the timings Docker takes 0 to mean "its default". */
function duration(minMs = 0) {
  const tooShort = `must be at least ${minMs}ms`;
  return z
    .union(
      [
        z.string({ error: DURATION }).regex(DURATION_TEXT, DURATION),
        z.number({ error: DURATION }).int(DURATION).min(0, DURATION).max(MAX_DURATION_MS, TOO_LONG),
      ],
      { error: DURATION },
    )
    // A pattern cannot say a duration's bounds: the fuzz test draws valid ones from these.
    .meta({ examples: ['5s', '1m30s', '250ms', '2h', 1500] })
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === null) ctx.addIssue({ code: 'custom', message: DURATION });
      else if (ms > MAX_DURATION_MS) ctx.addIssue({ code: 'custom', message: TOO_LONG });
      else if (ms < minMs) ctx.addIssue({ code: 'custom', message: tooShort });
      else return ms;
      return z.NEVER;
    });
}

function wholeNumber(min: number, max: number) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.number({ error: message }).int(message).min(min, message).max(max, message);
}

const TEST = 'must be ["CMD", "executable", "arg"…], ["CMD-SHELL", "command"] or ["NONE"]';
const testArg = z.string({ error: TEST }).min(1, 'arguments must not be empty').max(65_536, 'each argument must be at most 65536 characters');

/** Docker's three forms of a check's test. */
const healthcheckTest = z.union(
  [
    z.tuple([z.literal('CMD', { error: TEST }), testArg], testArg).refine((t) => t.length <= 1000, 'must have at most 1000 arguments'),
    z.tuple([z.literal('CMD-SHELL', { error: TEST }), testArg]),
    z.tuple([z.literal('NONE', { error: TEST })]),
  ],
  { error: TEST },
);

const healthcheck = z
  .strictObject(
    {
      test: healthcheckTest,
      interval: duration(1).optional(),
      timeout: duration(1).optional(),
      retries: wholeNumber(0, 1000).optional(),
      startPeriod: duration().optional(),
    },
    { error: 'must be an object, e.g. {"test": ["CMD-SHELL", "wget -q -O- localhost"], "interval": "5s"}' },
  )
  .transform(
    (v): HealthcheckSpec => ({
      test: v.test,
      intervalMs: v.interval ?? HEALTHCHECK_DEFAULTS.intervalMs,
      timeoutMs: v.timeout ?? HEALTHCHECK_DEFAULTS.timeoutMs,
      retries: v.retries ?? HEALTHCHECK_DEFAULTS.retries,
      startPeriodMs: v.startPeriod ?? HEALTHCHECK_DEFAULTS.startPeriodMs,
    }),
  );

/** Copies the fields given under their new names, leaving out those absent (a partial block merges field by field). */
function renamed<T>(value: Record<string, unknown>, names: Record<string, string>): T {
  const out: Record<string, unknown> = {};
  for (const [from, to] of Object.entries(names)) if (value[from] !== undefined) out[to] = value[from];
  return out as T;
}

const restart = z
  .strictObject(
    {
      condition: z.enum(['any', 'on-failure', 'none'], { error: 'must be "any", "on-failure" or "none"' }).optional(),
      // null: the back-off (at once, then 1 s, 2 s, 4 s … 10 s).
      delay: duration().nullable().optional(),
      maxAttempts: wholeNumber(0, 1_000_000).optional(),
      window: duration().optional(),
    },
    { error: 'must be an object, e.g. {"condition": "on-failure", "maxAttempts": 3}' },
  )
  .transform((v) => renamed<Partial<RestartPolicy>>(v, { condition: 'condition', delay: 'delayMs', maxAttempts: 'maxAttempts', window: 'windowMs' }));

const UPDATE_NAMES = {
  parallelism: 'parallelism', delay: 'delayMs', order: 'order', monitor: 'monitorMs', maxFailureRatio: 'maxFailureRatio',
  failureAction: 'failureAction', healthyDeadline: 'healthyDeadlineMs', progressDeadline: 'progressDeadlineMs',
};

const RATIO = 'must be a number from 0 to 1';

/** The `update` block, or the `rollback` one, whose failure cannot be another rollback. */
function rollout(failureActions: readonly ['pause', 'continue', ...string[]], example: string) {
  const actions = failureActions.map((a) => `"${a}"`);
  return z
    .strictObject(
      {
        // 0: every replica at once.
        parallelism: wholeNumber(0, 10_000).optional(),
        delay: duration().optional(),
        order: z.enum(['stop-first', 'start-first'], { error: 'must be "stop-first" or "start-first"' }).optional(),
        monitor: duration().optional(),
        maxFailureRatio: z.number({ error: RATIO }).min(0, RATIO).max(1, RATIO).optional(),
        failureAction: z
          .enum(failureActions as unknown as [string, ...string[]], { error: `must be ${actions.slice(0, -1).join(', ')} or ${actions[actions.length - 1]}` })
          .optional(),
        healthyDeadline: duration(1).optional(),
        progressDeadline: duration(1).optional(),
      },
      { error: `must be an object, e.g. ${example}` },
    )
    .transform((v) => renamed<Partial<UpdatePolicy>>(v, UPDATE_NAMES));
}

const update = rollout(['pause', 'continue', 'rollback'], '{"parallelism": 2, "order": "start-first", "failureAction": "rollback"}');
const rollback = rollout(['pause', 'continue'], '{"parallelism": 1, "failureAction": "pause"}');

/**
 * The lifecycle fields of a create (`nullable` false) or an update (true:
 * null returns a block to the defaults, the health check to the image's).
 */
export function lifecycleFields<N extends boolean>(nullable: N) {
  const maybe = <T extends z.ZodType>(schema: T) => (nullable ? schema.nullable().optional() : schema.optional()) as N extends true
    ? z.ZodOptional<z.ZodNullable<T>>
    : z.ZodOptional<T>;
  return {
    healthcheck: maybe(healthcheck),
    restart: maybe(restart),
    update: maybe(update),
    rollback: maybe(rollback),
    stopGracePeriod: maybe(duration()),
  };
}
