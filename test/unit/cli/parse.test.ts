import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import {
  applyChanges, collectKeyValue, logsQuery, parseKeyValue, parseReplicas, parseScaleTarget,
  parseScaleTargets, parseSeconds, parseTail,
} from '../../../cli/parse';

describe('--env K=V', () => {
  it('splits on the first "=" so values may contain "="', () => {
    assert.deepEqual(parseKeyValue('URL=http://x/?a=b'), ['URL', 'http://x/?a=b']);
  });
  it('accepts an empty value', () => {
    assert.deepEqual(parseKeyValue('EMPTY='), ['EMPTY', '']);
  });
  it('refuses a missing "=" or an empty key', () => {
    assert.throws(() => parseKeyValue('NOVALUE'), InvalidArgumentError);
    assert.throws(() => parseKeyValue('=x'), /KEY=VALUE/);
  });
  it('collects repeated flags into one object, later keys winning', () => {
    let env = collectKeyValue('A=1');
    env = collectKeyValue('B=2', env);
    env = collectKeyValue('A=3', env);
    assert.deepEqual(env, { A: '3', B: '2' });
  });
  it('applies additions after removals', () => {
    assert.deepEqual(applyChanges({ A: '1', B: '2', C: '3' }, { C: '9', D: '4' }, ['A', 'C', 'ZZZ']), {
      B: '2', C: '9', D: '4',
    });
  });
  it('does not change the current object', () => {
    const current = { A: '1' };
    applyChanges(current, { B: '2' }, ['A']);
    assert.deepEqual(current, { A: '1' });
  });
});

describe('replica counts', () => {
  it('accepts whole numbers from 0', () => {
    assert.equal(parseReplicas('0'), 0);
    assert.equal(parseReplicas('12'), 12);
  });
  for (const bad of ['-1', '1.5', 'abc', '', '1e3', '0x10', '99999999999999999999']) {
    it(`refuses "${bad}"`, () => assert.throws(() => parseReplicas(bad), InvalidArgumentError));
  }
});

describe('scale web=5', () => {
  it('parses NAME=N', () => {
    assert.deepEqual(parseScaleTarget('web=5'), { name: 'web', replicas: 5 });
  });
  it('parses several targets', () => {
    assert.deepEqual(parseScaleTargets(['web=5', 'api=0']), [
      { name: 'web', replicas: 5 },
      { name: 'api', replicas: 0 },
    ]);
  });
  for (const bad of ['web', '=5', 'web=', 'web=-2', 'web=two']) {
    it(`refuses "${bad}"`, () => assert.throws(() => parseScaleTarget(bad), InvalidArgumentError));
  }
  it('refuses a service named twice', () => {
    assert.throws(() => parseScaleTargets(['web=1', 'web=2']), /more than once/);
  });
});

describe('other values', () => {
  it('parses timeouts in seconds, fractions allowed', () => {
    assert.equal(parseSeconds('2.5'), 2.5);
    assert.throws(() => parseSeconds('0'), InvalidArgumentError);
    assert.throws(() => parseSeconds('soon'), InvalidArgumentError);
  });
  it('parses --tail', () => {
    assert.equal(parseTail('100'), 100);
    assert.throws(() => parseTail('-5'), InvalidArgumentError);
  });
  it('builds the logs query', () => {
    assert.equal(logsQuery({}), '');
    assert.equal(logsQuery({ follow: true, tail: 10 }), '?follow=true&tail=10');
    assert.equal(logsQuery({ tail: 0 }), '?tail=0');
  });
});
