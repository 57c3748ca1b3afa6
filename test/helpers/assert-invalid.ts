import assert from 'node:assert/strict';
import { BicycleError } from '../../daemon/errors';

/** `fn` throws INVALID_ARGUMENT whose message matches every pattern (the field it names, what would be accepted). */
export function assertInvalid(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BicycleError, `expected a BicycleError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_ARGUMENT', error.message);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}
