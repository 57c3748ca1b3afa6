import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HEALTHCHECK_DEFAULTS } from '../../database/lifecycle';
import { parseNewService, parseRollback, parseServiceChanges } from '../../modules/validation';
import { assertInvalid } from '../helpers/assert-invalid';

// The lifecycle fields of POST and PATCH /services: health check, restart,
// update and rollback policies, stop grace period (modules/validation-lifecycle.ts).

const create = (more: Record<string, unknown>) => parseNewService({ name: 'web', image: 'nginx', ...more }).spec;
const DURATION = /must be a duration such as "5s" or "1m30s", or milliseconds$/;

describe('durations', () => {
  for (const [given, ms] of [['5s', 5000], ['1m30s', 90_000], ['250ms', 250], ['1.5s', 1500], ['2h', 7_200_000], ['0s', 0], [1500, 1500], ['300', 300], [0, 0]] as const) {
    test(`${JSON.stringify(given)} is ${ms} ms`, () => {
      assert.equal(create({ stopGracePeriod: given }).stopGracePeriodMs, ms);
    });
  }

  for (const bad of ['5', '5 s', 's', '5x', '1d', '-1s', '', -1, 1.5, true, null, {}, ['5s']]) {
    if (bad === '5') continue; // a bare number of ms is fine as text
    test(`${JSON.stringify(bad)} is refused naming the field`, () => {
      assertInvalid(() => create({ stopGracePeriod: bad }), /^stopGracePeriod: /, DURATION);
    });
  }

  test('more than a week is refused', () => {
    assertInvalid(() => create({ restart: { window: '169h' } }), /^restart\.window: must be at most 168h/);
    assert.equal(create({ restart: { window: '168h' } }).restart?.windowMs, 168 * 3_600_000);
  });
});

describe('healthcheck', () => {
  test('the three forms of test are accepted, Docker\'s defaults filled in', () => {
    for (const given of [['CMD', 'curl', '-f', 'http://localhost'], ['CMD', 'true'], ['CMD-SHELL', 'wget -q -O- localhost || exit 1'], ['NONE']]) {
      assert.deepEqual(create({ healthcheck: { test: given } }).healthcheck, { test: given, ...HEALTHCHECK_DEFAULTS });
    }
  });

  test('every timing is taken, durations in ms', () => {
    assert.deepEqual(create({ healthcheck: { test: ['CMD', 'true'], interval: '5s', timeout: 2000, retries: 0, startPeriod: '1m' } }).healthcheck, {
      test: ['CMD', 'true'], intervalMs: 5000, timeoutMs: 2000, retries: 0, startPeriodMs: 60_000,
    });
  });

  const TEST = /^healthcheck\.test: must be \["CMD", "executable", "arg"…\], \["CMD-SHELL", "command"\] or \["NONE"\]$/;
  for (const given of [['CMD'], ['CMD-SHELL'], ['CMD-SHELL', 'a', 'b'], ['NONE', 'x'], ['SHELL', 'x'], [], 'CMD true', [1]]) {
    test(`test ${JSON.stringify(given)} is refused naming healthcheck.test`, () => assertInvalid(() => create({ healthcheck: { test: given } }), TEST));
  }

  test('an empty argument is refused naming its position', () => {
    assertInvalid(() => create({ healthcheck: { test: ['CMD', ''] } }), /^healthcheck\.test\.1: /);
  });

  test('a missing test is required', () => {
    assertInvalid(() => create({ healthcheck: { interval: '5s' } }), /^healthcheck\.test: is required$/);
  });

  test('each timing refused names its field', () => {
    assertInvalid(() => create({ healthcheck: { test: ['NONE'], interval: '5x' } }), /^healthcheck\.interval: /, DURATION);
    assertInvalid(() => create({ healthcheck: { test: ['NONE'], timeout: 'soon' } }), /^healthcheck\.timeout: /, DURATION);
    assertInvalid(() => create({ healthcheck: { test: ['NONE'], startPeriod: -5 } }), /^healthcheck\.startPeriod: /, DURATION);
    assertInvalid(() => create({ healthcheck: { test: ['NONE'], retries: -1 } }), /^healthcheck\.retries: must be a whole number from 0 to 1000$/);
    assertInvalid(() => create({ healthcheck: { test: ['NONE'], retries: 1.5 } }), /^healthcheck\.retries: /);
  });

  test('interval and timeout of 0 are refused (Docker reads 0 as its default)', () => {
    assertInvalid(() => create({ healthcheck: { test: ['NONE'], interval: '0s' } }), /^healthcheck\.interval: must be at least 1ms$/);
    assertInvalid(() => create({ healthcheck: { test: ['NONE'], timeout: 0 } }), /^healthcheck\.timeout: must be at least 1ms$/);
  });

  test('unknown fields are named (compose spells start_period, Bicycle startPeriod)', () => {
    assertInvalid(() => create({ healthcheck: { test: ['NONE'], start_period: '5s' } }), /unknown field "start_period" in healthcheck/);
  });

  test('null on create is refused; on update it returns to the image\'s check', () => {
    assertInvalid(() => create({ healthcheck: null }), /^healthcheck: must be an object/);
    assert.deepEqual(parseServiceChanges({ healthcheck: null }), { healthcheck: null });
  });

  test('on update a check is given whole', () => {
    assert.deepEqual(parseServiceChanges({ healthcheck: { test: ['CMD', 'true'], retries: 5 } }), {
      healthcheck: { test: ['CMD', 'true'], ...HEALTHCHECK_DEFAULTS, retries: 5 },
    });
  });
});

describe('restart', () => {
  test('every field is taken, under the data layer\'s names', () => {
    assert.deepEqual(create({ restart: { condition: 'on-failure', delay: '5s', maxAttempts: 3, window: '2m' } }).restart, {
      condition: 'on-failure', delayMs: 5000, maxAttempts: 3, windowMs: 120_000,
    });
  });
  test('only the fields given are passed (they merge into the service\'s); delay null is the back-off', () => {
    assert.deepEqual(create({ restart: { condition: 'none' } }).restart, { condition: 'none' });
    assert.deepEqual(create({ restart: { delay: null } }).restart, { delayMs: null });
    assert.deepEqual(create({ restart: {} }).restart, {});
  });
  test('refusals name the field', () => {
    assertInvalid(() => create({ restart: { condition: 'always' } }), /^restart\.condition: must be "any", "on-failure" or "none"$/);
    assertInvalid(() => create({ restart: { delay: '5 seconds' } }), /^restart\.delay: /, DURATION);
    assertInvalid(() => create({ restart: { maxAttempts: -1 } }), /^restart\.maxAttempts: must be a whole number/);
    assertInvalid(() => create({ restart: { window: 'x' } }), /^restart\.window: /, DURATION);
    assertInvalid(() => create({ restart: { max_attempts: 1 } }), /unknown field "max_attempts" in restart/);
    assertInvalid(() => create({ restart: 'on-failure' }), /^restart: must be an object/);
  });
});

describe('update and rollback', () => {
  const full = {
    parallelism: 2, delay: '10s', order: 'start-first', monitor: '30s', maxFailureRatio: 0.25,
    failureAction: 'rollback', healthyDeadline: '2m', progressDeadline: '5m',
  };
  const fullMs = {
    parallelism: 2, delayMs: 10_000, order: 'start-first', monitorMs: 30_000, maxFailureRatio: 0.25,
    failureAction: 'rollback', healthyDeadlineMs: 120_000, progressDeadlineMs: 300_000,
  };

  test('every update field is taken, durations in ms', () => {
    assert.deepEqual(create({ update: full }).update, fullMs);
  });
  test('rollback takes the same fields, its failure action pause or continue', () => {
    assert.deepEqual(create({ rollback: { ...full, failureAction: 'continue' } }).rollback, { ...fullMs, failureAction: 'continue' });
    assertInvalid(() => create({ rollback: { failureAction: 'rollback' } }), /^rollback\.failureAction: must be "pause" or "continue"$/);
  });
  test('parallelism 0 (all at once) and ratios 0 and 1 are accepted', () => {
    assert.deepEqual(create({ update: { parallelism: 0, maxFailureRatio: 1 } }).update, { parallelism: 0, maxFailureRatio: 1 });
    assert.deepEqual(create({ update: { maxFailureRatio: 0 } }).update, { maxFailureRatio: 0 });
  });
  test('each refusal names its field', () => {
    for (const block of ['update', 'rollback']) {
      assertInvalid(() => create({ [block]: { parallelism: -1 } }), new RegExp(`^${block}\\.parallelism: must be a whole number from 0 to 10000$`));
      assertInvalid(() => create({ [block]: { parallelism: 1.5 } }), new RegExp(`^${block}\\.parallelism: `));
      assertInvalid(() => create({ [block]: { delay: '1 s' } }), new RegExp(`^${block}\\.delay: `), DURATION);
      assertInvalid(() => create({ [block]: { order: 'random' } }), new RegExp(`^${block}\\.order: must be "stop-first" or "start-first"$`));
      assertInvalid(() => create({ [block]: { monitor: true } }), new RegExp(`^${block}\\.monitor: `), DURATION);
      assertInvalid(() => create({ [block]: { maxFailureRatio: 1.1 } }), new RegExp(`^${block}\\.maxFailureRatio: must be a number from 0 to 1$`));
      assertInvalid(() => create({ [block]: { maxFailureRatio: '0.5' } }), new RegExp(`^${block}\\.maxFailureRatio: `));
      assertInvalid(() => create({ [block]: { failureAction: 'stop' } }), new RegExp(`^${block}\\.failureAction: must be "pause"`));
      assertInvalid(() => create({ [block]: { healthyDeadline: '0s' } }), new RegExp(`^${block}\\.healthyDeadline: must be at least 1ms$`));
      assertInvalid(() => create({ [block]: { progressDeadline: 'never' } }), new RegExp(`^${block}\\.progressDeadline: `), DURATION);
      assertInvalid(() => create({ [block]: { max_failure_ratio: 0 } }), new RegExp(`unknown field "max_failure_ratio" in ${block}`));
    }
  });
  test('on update each block may be null (back to the defaults) or partial (merged by the data layer)', () => {
    assert.deepEqual(parseServiceChanges({ update: null, rollback: { parallelism: 1 }, restart: null }), {
      update: null, rollback: { parallelism: 1 }, restart: null,
    });
  });
  test('null blocks are refused on create', () => {
    assertInvalid(() => create({ update: null }), /^update: must be an object/);
  });
});

describe('stopGracePeriod', () => {
  test('becomes stopGracePeriodMs; null on update returns to the default', () => {
    assert.equal(create({ stopGracePeriod: '30s' }).stopGracePeriodMs, 30_000);
    assert.deepEqual(parseServiceChanges({ stopGracePeriod: '1m' }), { stopGracePeriodMs: 60_000 });
    assert.deepEqual(parseServiceChanges({ stopGracePeriod: null }), { stopGracePeriodMs: null });
  });
  test('a create without lifecycle fields has none in its spec (the defaults apply)', () => {
    assert.deepEqual(Object.keys(create({})).sort(), ['command', 'env', 'image', 'labels', 'ports']);
  });
});

describe('POST /services/:name/rollback body', () => {
  test('absent or {} rolls back to the previous version; version names one', () => {
    assert.deepEqual(parseRollback(undefined), {});
    assert.deepEqual(parseRollback({}), {});
    assert.deepEqual(parseRollback({ version: 4 }), { toVersion: 4 });
  });
  test('a bad version or an unknown field is refused', () => {
    for (const version of [0, -1, 1.5, '3', null]) assertInvalid(() => parseRollback({ version }), /^version: must be a whole number 1 or more/);
    assertInvalid(() => parseRollback({ to: 3 }), /unknown field "to" in the rollback/);
    assertInvalid(() => parseRollback([]), /the rollback must be a JSON object/);
  });
});
