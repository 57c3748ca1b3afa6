import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { healthcheckFromFlags, lifecycleBody, withLifecycleOptions, type LifecycleOptions } from '../../../cli/lifecycle-flags';
import { buildServiceSpec } from '../../../cli/commands/service-add';
import { buildServicePatch, rolloutGoal } from '../../../cli/commands/service-update';
import { serviceTable } from '../../../cli/commands/service-ls';
import { historyTable } from '../../../cli/commands/service-history';
import { progressText } from '../../../cli/converge';
import { rolloutVerdict } from '../../../cli/rollout-verdict';
import { run } from '../../../cli/main';
import type { Healthcheck, Service, UpdateStatus } from '../../../cli/types';
import { service, task } from './fixtures';

/** The options commander makes of `args` with the lifecycle flags only. */
function flags(...args: string[]): LifecycleOptions {
  const cmd = withLifecycleOptions(new Command('t').exitOverride().configureOutput({ writeErr: () => undefined }));
  cmd.parse(args, { from: 'user' });
  return cmd.opts<LifecycleOptions>();
}

async function exitCodeOf(...args: string[]): Promise<number> {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await run(['node', 'bicycle', '--host', '127.0.0.1:1', ...args]);
  } finally {
    process.stderr.write = write;
  }
}

const check: Healthcheck = { test: ['CMD-SHELL', 'test -f /ok'], interval: '30s', timeout: '30s', retries: 3, startPeriod: '0s' };

describe('lifecycle flags', () => {
  it('--health-cmd is a CMD-SHELL check with the timings given', () => {
    assert.deepEqual(lifecycleBody(flags('--health-cmd', 'wget -q -O- localhost', '--health-interval', '5s', '--health-timeout', '2s', '--health-retries', '2', '--health-start-period', '1m')), {
      healthcheck: { test: ['CMD-SHELL', 'wget -q -O- localhost'], interval: '5s', timeout: '2s', retries: 2, startPeriod: '1m' },
    });
  });
  it('--no-healthcheck turns the image\'s check off (["NONE"])', () => {
    assert.deepEqual(lifecycleBody(flags('--no-healthcheck')), { healthcheck: { test: ['NONE'] } });
  });
  it('--no-healthcheck with other health flags, timings without a check, or an empty command are refused', () => {
    assert.throws(() => lifecycleBody(flags('--no-healthcheck', '--health-cmd', 'x')), /--no-healthcheck cannot be given with/);
    assert.throws(() => lifecycleBody(flags('--health-interval', '5s')), /give --health-cmd too/);
    assert.throws(() => lifecycleBody(flags('--health-cmd', ' ')), /--health-cmd must not be empty/);
  });
  it('restart, update and rollback flags make partial blocks under the API\'s names', () => {
    const body = lifecycleBody(flags(
      '--restart-condition', 'on-failure', '--restart-delay', '5s', '--restart-max-attempts', '3', '--restart-window', '2m',
      '--update-parallelism', '2', '--update-delay', '10s', '--update-order', 'start-first', '--update-failure-action', 'rollback',
      '--update-monitor', '30s', '--update-max-failure-ratio', '0.25', '--update-healthy-deadline', '2m', '--update-progress-deadline', '5m',
      '--rollback-parallelism', '0', '--rollback-failure-action', 'continue', '--rollback-order', 'stop-first', '--rollback-monitor', '1s',
      '--rollback-delay', '0s', '--rollback-max-failure-ratio', '1',
      '--stop-grace-period', '1m30s',
    ));
    assert.deepEqual(body, {
      restart: { condition: 'on-failure', delay: '5s', maxAttempts: 3, window: '2m' },
      update: { parallelism: 2, delay: '10s', order: 'start-first', monitor: '30s', maxFailureRatio: 0.25, healthyDeadline: '2m', progressDeadline: '5m', failureAction: 'rollback' },
      rollback: { parallelism: 0, delay: '0s', order: 'stop-first', monitor: '1s', maxFailureRatio: 1, failureAction: 'continue' },
      stopGracePeriod: '1m30s',
    });
  });
  it('only the flags given are sent', () => {
    assert.deepEqual(lifecycleBody(flags('--update-parallelism', '1')), { update: { parallelism: 1 } });
    assert.deepEqual(lifecycleBody(flags()), {});
  });
  for (const [args, pattern] of [
    [['--health-interval', '5 s'], /duration such as 5s/],
    [['--update-delay', 'soon'], /duration such as 5s/],
    [['--restart-condition', 'always'], /must be any, on-failure or none/],
    [['--update-order', 'random'], /must be stop-first or start-first/],
    [['--update-failure-action', 'stop'], /must be pause, continue or rollback/],
    [['--rollback-failure-action', 'rollback'], /must be pause or continue/],
    [['--update-max-failure-ratio', '1.5'], /number from 0 to 1/],
    [['--update-parallelism', '-1'], /whole number 0 or more/],
    [['--health-retries', 'x'], /whole number 0 or more/],
  ] as const) {
    it(`${args.join(' ')} is a usage error`, () => {
      assert.throws(() => flags(...args), pattern);
    });
  }
});

describe('service add and update bodies with lifecycle flags', () => {
  it('add carries them beside the spec', () => {
    const spec = buildServiceSpec('web', [], { image: 'img', replicas: 2, timeout: 120, ...flags('--health-cmd', 'true', '--update-order', 'start-first') });
    assert.deepEqual(spec, { name: 'web', image: 'img', replicas: 2, healthcheck: { test: ['CMD-SHELL', 'true'] }, update: { order: 'start-first' } });
  });
  it('update changes the timings of the service\'s own check, sending it whole', () => {
    const current = service({ healthcheck: check });
    assert.deepEqual(buildServicePatch(current, { timeout: 120, ...flags('--health-interval', '5s') }, []), { healthcheck: { ...check, interval: '5s' } });
    assert.deepEqual(healthcheckFromFlags(flags('--health-cmd', 'x'), check), { ...check, test: ['CMD-SHELL', 'x'] });
  });
  it('update sends no check that is the service\'s already (durations compared as time)', () => {
    const current = service({ healthcheck: check });
    assert.deepEqual(buildServicePatch(current, { timeout: 120, ...flags('--health-cmd', 'test -f /ok', '--health-interval', '30000') }, []), {});
  });
  it('update of timings on a service without a check is refused', () => {
    assert.throws(() => buildServicePatch(service({ healthcheck: null }), { timeout: 120, ...flags('--health-retries', '1') }, []), /give --health-cmd too/);
  });
  it('a new health check is a new spec: the wait wants the version the daemon answered, and a rollback from it is a failure', () => {
    const current = service({ specVersion: 3 });
    assert.deepEqual(rolloutGoal(current, { healthcheck: check }, service({ specVersion: 7 })), { minTaskVersion: 7, rolloutVersion: 7 });
    assert.deepEqual(rolloutGoal(current, { image: 'x' }), { minTaskVersion: 4 });
    assert.deepEqual(rolloutGoal(current, { update: { parallelism: 1 } }, service({ specVersion: 3 })), {});
  });
  it('a health flag alone is a change to make; timings without a check on add, and a bad --to, are usage errors', async () => {
    assert.equal(await exitCodeOf('service', 'add', 'web', '--image', 'x', '--health-interval', '5s'), 2);
    assert.equal(await exitCodeOf('service', 'add', 'web', '--image', 'x', '--max-failures', '9'), 2);
    assert.equal(await exitCodeOf('service', 'rollback', 'web', '--to', 'x'), 2);
    assert.equal(await exitCodeOf('service', 'rollback'), 2);
    assert.equal(await exitCodeOf('service', 'history'), 2);
    assert.equal(await exitCodeOf('service', 'update', 'web', '--update-parallelism', '1'), 1, 'a change to send: it reaches for the daemon');
  });
});

const status = (more: Partial<UpdateStatus>): UpdateStatus => ({
  kind: 'update', fromVersion: 1, toVersion: 2, startedAt: '2025-01-01T00:00:00Z', completedAt: null, message: null, ...more,
});

/** Six replicas, `updated` of them at version 2 (the rest at 1), healthy as given. */
function rolling(state: Service['state'], updated: number, healthy: number, more: Partial<Service> = {}): Service {
  const tasks = Array.from({ length: 6 }, (_, i) => task({ slot: i + 1, version: i < updated ? 2 : 1, specVersion: i < updated ? 2 : 1, health: i < healthy ? 'healthy' : 'starting' }));
  return service({ replicas: 6, running: 6, healthy, state, specVersion: 2, healthcheck: check, tasks, updateStatus: status({}), ...more });
}

describe('progress with health', () => {
  it('an update shows its state, the replicas updated and those healthy', () => {
    assert.equal(progressText(rolling('UPDATING', 2, 4)), 'web: UPDATING 2/6 updated, 4 healthy');
  });
  it('a rollback counts the replicas rolled back', () => {
    const s = rolling('ROLLING_BACK', 2, 6, { specVersion: 1, updateStatus: status({ kind: 'rollback', fromVersion: 2, toVersion: 1 }) });
    assert.equal(progressText(s), 'web: ROLLING_BACK 4/6 rolled back, 6 healthy');
  });
  it('a service with a check counts healthy replicas beside running', () => {
    assert.equal(progressText(rolling('DEPLOYING', 6, 5)), 'web: 6/6 running, 5 healthy');
  });
  it('a failing replica\'s reason is shown while waiting', () => {
    const s = service({
      replicas: 2, running: 0, state: 'DEPLOYING',
      tasks: [
        task({ state: 'FAILED', desiredState: 'SHUTDOWN', error: 'image nosuch:1 could not be pulled', updatedAt: '2025-01-01T00:00:05Z' }),
        task({ state: 'FAILED', desiredState: 'SHUTDOWN', error: 'image nosuch:1 could not be pulled', updatedAt: '2025-01-01T00:00:09Z' }),
        task({ slot: 2, state: 'STARTING' }),
      ],
    });
    assert.equal(progressText(s), 'web: 0/2 running; web.1 failed 2 times: image nosuch:1 could not be pulled');
  });
});

describe('rollout verdicts', () => {
  it('a service with a check has converged only once every replica is healthy', () => {
    assert.deepEqual(rolloutVerdict(rolling('DEPLOYING', 6, 5), {}), { done: false });
    assert.deepEqual(rolloutVerdict(rolling('RUNNING', 6, 6), {}), { done: true, ok: true });
  });
  it('an update under way is waited for, and done once converged and RUNNING', () => {
    assert.deepEqual(rolloutVerdict(rolling('UPDATING', 6, 6), { rolloutVersion: 2 }), { done: false });
    assert.deepEqual(rolloutVerdict(rolling('RUNNING', 6, 6), { rolloutVersion: 2 }), { done: true, ok: true });
  });
  it('PAUSED is a failure with the daemon\'s reason', () => {
    const v = rolloutVerdict(rolling('PAUSED', 2, 2, { updateStatus: status({ message: 'web.1 was not healthy within 2m' }) }), { rolloutVersion: 2 });
    assert.equal(v.done && !v.ok && v.message.split('\n')[0], 'web: update paused: web.1 was not healthy within 2m');
  });
  it('an automatic rollback of the update is waited for, then a failure: "update rolled back: <reason>"', () => {
    const rollback = status({ kind: 'rollback', fromVersion: 2, toVersion: 1, message: '2 of 6 updated replicas failed' });
    assert.deepEqual(rolloutVerdict(rolling('ROLLING_BACK', 2, 4, { specVersion: 1, updateStatus: rollback }), { rolloutVersion: 2 }), { done: false });
    const done = rolloutVerdict(rolling('ROLLED_BACK', 0, 6, { specVersion: 1, updateStatus: { ...rollback, completedAt: '2025-01-01T00:01:00Z' } }), { rolloutVersion: 2 });
    assert.deepEqual(done, { done: true, ok: false, message: 'web: update rolled back: 2 of 6 updated replicas failed (back on version 1)' });
  });
  it('`service rollback` is done once the rollback completed and the service converged', () => {
    const rollback = status({ kind: 'rollback', fromVersion: 2, toVersion: 1, message: 'rollback asked for' });
    const underWay = rolling('ROLLING_BACK', 2, 6, { specVersion: 1, updateStatus: rollback });
    assert.deepEqual(rolloutVerdict(underWay, { rollback: true }), { done: false });
    const done = rolling('ROLLED_BACK', 0, 6, { specVersion: 1, updateStatus: { ...rollback, completedAt: '2025-01-01T00:01:00Z' } });
    assert.deepEqual(rolloutVerdict(done, { rollback: true }), { done: true, ok: true });
  });
  it('a ROLLED_BACK service whose policies alone changed is converged, not a failure', () => {
    const rollback = status({ kind: 'rollback', fromVersion: 2, toVersion: 1, completedAt: '2025-01-01T00:01:00Z' });
    assert.deepEqual(rolloutVerdict(rolling('ROLLED_BACK', 0, 6, { specVersion: 1, updateStatus: rollback }), {}), { done: true, ok: true });
  });
  it('gives up once every replica has failed more than maxFailures times, naming the last reason', () => {
    const failed = (slot: number, n: number) => Array.from({ length: n }, (_, i) =>
      task({ slot, state: 'FAILED', desiredState: 'SHUTDOWN', error: `no such image (${slot}.${i})`, updatedAt: `2025-01-01T00:00:0${i}Z` }));
    const s = service({ replicas: 2, running: 0, state: 'DEGRADED', tasks: [...failed(1, 4), ...failed(2, 4)] });
    const v = rolloutVerdict(s, { maxFailures: 3 });
    assert.ok(v.done && !v.ok, JSON.stringify(v));
    assert.match(v.message, /^web: every replica failed more than 3 times; the last, web\.\d: no such image \(\d\.3\)/);
    assert.deepEqual(rolloutVerdict(s, { maxFailures: 4 }), { done: false }, 'four failures are not more than four');
    assert.deepEqual(rolloutVerdict({ ...s, tasks: [...failed(1, 4), ...failed(2, 2)] }, { maxFailures: 3 }), { done: false }, 'one replica still has tries left');
  });
});

describe('tables', () => {
  it('service ls counts healthy replicas where the daemon says, running otherwise', () => {
    const table = serviceTable([
      { ...service({ name: 'web', replicas: 3, running: 3, healthy: 2 }), ports: [] },
      { ...service({ name: 'old', replicas: 2, running: 2 }), ports: [] },
    ]);
    assert.match(table, /old +bicycle\/busybox:test +2\/2/);
    assert.match(table, /web +bicycle\/busybox:test +2\/3/);
  });
  it('service history lists versions newest first, the current one marked', () => {
    const now = Date.parse('2025-01-01T01:00:00Z');
    const table = historyTable([
      { version: 1, image: 'web:1', command: null, env: {}, labels: {}, healthcheck: null, createdAt: '2025-01-01T00:00:00Z', current: false },
      { version: 2, image: 'web:2', command: ['httpd', '-f'], env: {}, labels: {}, healthcheck: check, createdAt: '2025-01-01T00:30:00Z', current: true },
      { version: 3, image: 'web:3', command: null, env: {}, labels: {}, healthcheck: { test: ['NONE'] }, createdAt: '2025-01-01T00:40:00Z', current: false },
    ], now);
    assert.equal(table,
      'VERSION   CURRENT   IMAGE   COMMAND    HEALTHCHECK             CREATED\n' +
      '3                   web:3              none                    20m\n' +
      '2         *         web:2   httpd -f   CMD-SHELL test -f /ok   30m\n' +
      '1                   web:1              image\'s                 1h\n');
  });
});
