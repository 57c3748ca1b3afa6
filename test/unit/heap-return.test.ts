import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAP_RETURN_POLICY, shouldCollect, type HeapSample } from '../../daemon/heap-return';

const MiB = 2 ** 20;
const p = HEAP_RETURN_POLICY;
/** A heap with little slack, collected long ago, idle. */
const quiet: HeapSample = { usedBytes: 12 * MiB, residentBytes: 13 * MiB, liveBytes: 12 * MiB, sinceCollectMs: 10 * p.slackRetryMs, busy: 0.01 };

test('a thread collects only when it was mostly idle and its heap grew well past what was live', () => {
  assert.equal(shouldCollect(p, { ...quiet, usedBytes: 60 * MiB, residentBytes: 62 * MiB }), true, 'quiet after a burst');
  assert.equal(shouldCollect(p, { ...quiet, usedBytes: 60 * MiB, residentBytes: 62 * MiB, sinceCollectMs: 0 }), true, 'garbage goes whenever the thread is quiet');
  assert.equal(shouldCollect(p, { ...quiet, usedBytes: 60 * MiB, residentBytes: 62 * MiB, busy: 0.9 }), false, 'busy: V8 collects it as it allocates');
  assert.equal(shouldCollect(p, { ...quiet, usedBytes: 20 * MiB, residentBytes: 21 * MiB }), false, 'little garbage: not worth a pause');
  assert.equal(shouldCollect(p, { ...quiet, usedBytes: 12 * MiB + p.growthBytes, residentBytes: 13 * MiB + p.growthBytes }), false, 'at the margin exactly');
  assert.equal(shouldCollect(p, { ...quiet, usedBytes: 13 * MiB + p.growthBytes, residentBytes: 14 * MiB + p.growthBytes, busy: p.idleBelow }), false, 'at the idle share exactly');
});

test('a quiet thread whose heap keeps many more resident pages than objects collects, at most once per retry period', () => {
  const slack = { ...quiet, residentBytes: quiet.usedBytes + p.slackBytes + 1 };
  assert.equal(shouldCollect(p, quiet), false, 'little slack');
  assert.equal(shouldCollect(p, slack), true, 'grown semi-spaces after the start: the collection starts the memory reducer');
  assert.equal(shouldCollect(p, { ...slack, sinceCollectMs: Infinity }), true, 'no collection yet since the start');
  assert.equal(shouldCollect(p, { ...slack, sinceCollectMs: p.slackRetryMs - 1 }), false, 'the last collection is recent: the reducer may still be at work');
  assert.equal(shouldCollect(p, { ...slack, residentBytes: quiet.usedBytes + p.slackBytes }), false, 'at the margin exactly');
  assert.equal(shouldCollect(p, { ...slack, busy: 0.5 }), false, 'busy');
});
