import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatAge, formatBytes, formatDuration, formatPercent, shortId } from '../../../cli/format';

describe('format', () => {
  it('formats durations in their largest unit', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(12.7), '12s');
    assert.equal(formatDuration(59), '59s');
    assert.equal(formatDuration(60), '1m');
    assert.equal(formatDuration(3599), '59m');
    assert.equal(formatDuration(7200), '2h');
    assert.equal(formatDuration(3 * 86_400 + 5), '3d');
    assert.equal(formatDuration(-4), '0s');
    assert.equal(formatDuration(null), '-');
  });
  it('formats ages against a given now', () => {
    const now = Date.parse('2025-01-01T00:01:00Z');
    assert.equal(formatAge('2025-01-01T00:00:48Z', now), '12s');
    assert.equal(formatAge('not a date', now), '-');
    assert.equal(formatAge(null, now), '-');
  });
  it('shortens ids to 12 characters', () => {
    assert.equal(shortId('0123456789abcdef0123'), '0123456789ab');
    assert.equal(shortId('abc'), 'abc');
    assert.equal(shortId(null), '-');
  });
  it('formats bytes and percentages', () => {
    assert.equal(formatBytes(512), '512B');
    assert.equal(formatBytes(1536), '1.5KiB');
    assert.equal(formatBytes(12_345_678), '11.8MiB');
    assert.equal(formatBytes(null), '-');
    assert.equal(formatPercent(1.234), '1.2%');
    assert.equal(formatPercent(undefined), '-');
  });
});
