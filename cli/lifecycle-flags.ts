import { InvalidArgumentError, type Command } from 'commander';
import { durationMs, oneOf, parseCount, parseDuration, parseRatio } from './parse';
import type { Healthcheck, RestartPolicy, RolloutPolicy, Service } from './types';

// `docker service create/update`'s lifecycle flags: --health-*, --restart-*,
// --update-*, --rollback-*, --stop-grace-period, and what they send.

export interface LifecycleOptions {
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: number;
  healthStartPeriod?: string;
  /** false with --no-healthcheck (commander's negation), else true. */
  healthcheck?: boolean;
  restartCondition?: RestartPolicy['condition'];
  restartDelay?: string;
  restartMaxAttempts?: number;
  restartWindow?: string;
  stopGracePeriod?: string;
  [rolloutOption: string]: unknown;
}

/** The fields of the body the flags give: `healthcheck`, `restart`, `update`, `rollback`, `stopGracePeriod`. */
export interface LifecycleBody {
  healthcheck?: Healthcheck;
  restart?: RestartPolicy;
  update?: RolloutPolicy;
  rollback?: RolloutPolicy;
  stopGracePeriod?: string;
}

interface RolloutFlag {
  /** After `--update-` / `--rollback-`. */
  flag: string;
  arg: string;
  field: keyof RolloutPolicy;
  parse: (text: string) => unknown;
  help: string;
}

const ROLLOUT_FLAGS: readonly RolloutFlag[] = [
  { flag: 'parallelism', arg: '<n>', field: 'parallelism', parse: parseCount, help: 'replicas replaced at once (0: all at once)' },
  { flag: 'delay', arg: '<duration>', field: 'delay', parse: parseDuration, help: 'wait after a batch is healthy before the next' },
  { flag: 'order', arg: '<order>', field: 'order', parse: oneOf('stop-first', 'start-first'), help: 'stop-first or start-first (the new replica healthy before the old one stops)' },
  { flag: 'monitor', arg: '<duration>', field: 'monitor', parse: parseDuration, help: 'how long a new replica is watched for failure' },
  { flag: 'max-failure-ratio', arg: '<ratio>', field: 'maxFailureRatio', parse: parseRatio, help: 'share of replicas that may fail, 0 to 1' },
  { flag: 'healthy-deadline', arg: '<duration>', field: 'healthyDeadline', parse: parseDuration, help: 'a new replica not healthy this long after it was created has failed' },
  { flag: 'progress-deadline', arg: '<duration>', field: 'progressDeadline', parse: parseDuration, help: 'no replica healthy for this long: the failure action' },
];

const HEALTH_TIMINGS = ['healthInterval', 'healthTimeout', 'healthRetries', 'healthStartPeriod'] as const;
const RESTART_OPTIONS = ['restartCondition', 'restartDelay', 'restartMaxAttempts', 'restartWindow'] as const;

/** `max-failure-ratio` → `MaxFailureRatio` */
function pascal(flag: string): string {
  return flag.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

function rolloutKey(block: 'update' | 'rollback', flag: RolloutFlag): string {
  return `${block}${pascal(flag.flag)}`;
}

/** Adds the lifecycle flags to `service add` or `service update`. */
export function withLifecycleOptions(cmd: Command): Command {
  cmd
    .option('--health-cmd <command>', 'health check command, run with the container\'s shell (CMD-SHELL)')
    .option('--health-interval <duration>', 'time between checks (default 30s)', parseDuration)
    .option('--health-timeout <duration>', 'longest a check may run (default 30s)', parseDuration)
    .option('--health-retries <n>', 'failures in a row that make a replica unhealthy (default 3)', parseCount)
    .option('--health-start-period <duration>', 'time after start when failures do not count (default 0s)', parseDuration)
    .option('--no-healthcheck', "turn off the image's HEALTHCHECK")
    .option('--restart-condition <condition>', 'replace a replica that ended: any, on-failure or none', oneOf('any', 'on-failure', 'none'))
    .option('--restart-delay <duration>', 'wait before a replacement (default: back-off, at once then up to 10s)', parseDuration)
    .option('--restart-max-attempts <n>', 'replacements per replica before giving up (0: no limit)', parseCount)
    .option('--restart-window <duration>', 'the window --restart-max-attempts counts over (0s: no window)', parseDuration);
  for (const block of ['update', 'rollback'] as const) {
    const actions = block === 'update' ? oneOf('pause', 'continue', 'rollback') : oneOf('pause', 'continue');
    for (const flag of ROLLOUT_FLAGS) cmd.option(`--${block}-${flag.flag} ${flag.arg}`, `${block}: ${flag.help}`, flag.parse);
    cmd.option(
      `--${block}-failure-action <action>`,
      `${block}: what a failure does: ${block === 'update' ? 'pause, continue or rollback' : 'pause or continue'}`,
      actions,
    );
  }
  return cmd.option('--stop-grace-period <duration>', 'time a container has to stop before it is killed (default 10s)', parseDuration);
}

/** True when any lifecycle flag was given. */
export function hasLifecycleFlags(options: LifecycleOptions): boolean {
  return lifecycleKeys().some((key) => options[key] !== undefined) || options.healthcheck === false;
}

function lifecycleKeys(): string[] {
  const rollout = (['update', 'rollback'] as const).flatMap((block) => [
    ...ROLLOUT_FLAGS.map((flag) => rolloutKey(block, flag)),
    `${block}FailureAction`,
  ]);
  return ['healthCmd', ...HEALTH_TIMINGS, ...RESTART_OPTIONS, 'stopGracePeriod', ...rollout];
}

function rolloutBlock(options: LifecycleOptions, block: 'update' | 'rollback'): RolloutPolicy | undefined {
  const policy: Record<string, unknown> = {};
  for (const flag of ROLLOUT_FLAGS) {
    const value = options[rolloutKey(block, flag)];
    if (value !== undefined) policy[flag.field] = value;
  }
  const action = options[`${block}FailureAction`];
  if (action !== undefined) policy.failureAction = action;
  return Object.keys(policy).length > 0 ? (policy as RolloutPolicy) : undefined;
}

/** The timings given on the command line, under the API's names. */
function timings(options: LifecycleOptions): Omit<Healthcheck, 'test'> {
  const out: Omit<Healthcheck, 'test'> = {};
  if (options.healthInterval !== undefined) out.interval = options.healthInterval;
  if (options.healthTimeout !== undefined) out.timeout = options.healthTimeout;
  if (options.healthRetries !== undefined) out.retries = options.healthRetries;
  if (options.healthStartPeriod !== undefined) out.startPeriod = options.healthStartPeriod;
  return out;
}

/**
 * The health check to send: `--no-healthcheck` is ["NONE"], `--health-cmd`
 * a CMD-SHELL check; timings alone change the service's own check
 * (`current`, on update). Undefined when no health flag was given. Throws
 * InvalidArgumentError when the flags contradict or have no check to change.
 */
export function healthcheckFromFlags(options: LifecycleOptions, current: Healthcheck | null = null): Healthcheck | undefined {
  const given = timings(options);
  const hasTimings = Object.keys(given).length > 0;
  if (options.healthcheck === false) {
    if (options.healthCmd !== undefined || hasTimings) throw new InvalidArgumentError('--no-healthcheck cannot be given with --health-cmd or other --health-* flags');
    return { test: ['NONE'] };
  }
  if (options.healthCmd !== undefined) {
    if (options.healthCmd.trim() === '') throw new InvalidArgumentError('--health-cmd must not be empty');
    const base = current && current.test[0] !== 'NONE' ? withoutTest(current) : {};
    return { test: ['CMD-SHELL', options.healthCmd], ...base, ...given };
  }
  if (!hasTimings) return undefined;
  if (!current || current.test[0] === 'NONE') {
    throw new InvalidArgumentError('--health-interval, --health-timeout, --health-retries and --health-start-period change a health check: give --health-cmd too');
  }
  return { ...current, ...given };
}

function withoutTest(check: Healthcheck): Omit<Healthcheck, 'test'> {
  const { test: _test, ...rest } = check;
  return rest;
}

/** Whether two checks are the same (durations compared in ms: "30s" is 30000). */
export function sameHealthcheck(a: Healthcheck | null | undefined, b: Healthcheck | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  const ms = (text: string | undefined) => (text === undefined ? undefined : durationMs(text));
  return JSON.stringify(a.test) === JSON.stringify(b.test) &&
    ms(a.interval) === ms(b.interval) && ms(a.timeout) === ms(b.timeout) &&
    a.retries === b.retries && ms(a.startPeriod) === ms(b.startPeriod);
}

/**
 * The body fields the lifecycle flags give. Policies are sent as the
 * flags given (the daemon merges each block field by field); the health
 * check whole (see healthcheckFromFlags), and on update only when it
 * differs from `current`'s, since a new check means new containers.
 */
export function lifecycleBody(options: LifecycleOptions, current?: Pick<Service, 'healthcheck'>): LifecycleBody {
  const body: LifecycleBody = {};
  const check = healthcheckFromFlags(options, current?.healthcheck ?? null);
  if (check && !(current && sameHealthcheck(check, current.healthcheck))) body.healthcheck = check;
  const restart: RestartPolicy = {};
  if (options.restartCondition !== undefined) restart.condition = options.restartCondition;
  if (options.restartDelay !== undefined) restart.delay = options.restartDelay;
  if (options.restartMaxAttempts !== undefined) restart.maxAttempts = options.restartMaxAttempts;
  if (options.restartWindow !== undefined) restart.window = options.restartWindow;
  if (Object.keys(restart).length > 0) body.restart = restart;
  const update = rolloutBlock(options, 'update');
  if (update) body.update = update;
  const rollback = rolloutBlock(options, 'rollback');
  if (rollback) body.rollback = rollback;
  if (options.stopGracePeriod !== undefined) body.stopGracePeriod = options.stopGracePeriod;
  return body;
}
