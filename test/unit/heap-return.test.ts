import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAP_RETURN_POLICY, shouldCollect } from '../../daemon/heap-return';

const MiB = 2 ** 20;

test('a thread collects only when it was mostly idle and its heap grew well past what was live', () => {
  const p = HEAP_RETURN_POLICY;
  assert.equal(shouldCollect(p, 60 * MiB, 12 * MiB, 0.01), true, 'quiet after a burst');
  assert.equal(shouldCollect(p, 60 * MiB, 12 * MiB, 0.9), false, 'busy: V8 collects it as it allocates');
  assert.equal(shouldCollect(p, 20 * MiB, 12 * MiB, 0.01), false, 'little garbage: not worth a pause');
  assert.equal(shouldCollect(p, 12 * MiB + p.growthBytes, 12 * MiB, 0), false, 'at the margin exactly');
  assert.equal(shouldCollect(p, 12 * MiB + p.growthBytes + 1, 12 * MiB, p.idleBelow), false, 'at the idle share exactly');
});
