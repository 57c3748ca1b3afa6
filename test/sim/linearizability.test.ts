import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkLinearizable, kvModel, type KvInput, type Operation } from './linearizability';

const put = (key: string, value: string, call: number, ret: number): Operation<KvInput, string> => ({ input: { kind: 'put', key, value }, output: '', call, ret });
const get = (key: string, output: string, call: number, ret: number): Operation<KvInput, string> => ({ input: { kind: 'get', key }, output, call, ret });

describe('linearizability checker (Wing & Gong with memoization)', () => {
  test('accepts a sequential history', () => {
    assert.deepEqual(checkLinearizable(kvModel, [put('x', '1', 0, 1), get('x', '1', 2, 3), put('x', '2', 4, 5), get('x', '2', 6, 7)]), { ok: true });
  });

  test('accepts overlapping operations in either order', () => {
    const ops = [put('x', '1', 0, 10), get('x', '1', 1, 2), get('x', '', 3, 4)];
    assert.equal(checkLinearizable(kvModel, ops).ok, false, 'a read of 1 then a read of the initial value is not linearizable');
    assert.equal(checkLinearizable(kvModel, [put('x', '1', 0, 10), get('x', '', 1, 2), get('x', '1', 3, 4)]).ok, true);
  });

  test('rejects a stale read after a completed write', () => {
    assert.equal(checkLinearizable(kvModel, [put('x', '1', 0, 1), put('x', '2', 2, 3), get('x', '1', 4, 5)]).ok, false);
  });

  test('an operation with an unknown outcome may or may not have happened', () => {
    assert.equal(checkLinearizable(kvModel, [put('x', '1', 0, Infinity), get('x', '', 1, 2), get('x', '1', 3, 4)]).ok, true);
    assert.equal(checkLinearizable(kvModel, [put('x', '1', 0, Infinity), get('x', '', 1, 2)]).ok, true);
    assert.equal(checkLinearizable(kvModel, [put('x', '1', 0, Infinity), get('x', '1', 1, 2), get('x', '', 3, 4)]).ok, false);
  });

  test('keys are checked independently', () => {
    assert.equal(checkLinearizable(kvModel, [put('x', '1', 0, 1), get('y', '', 2, 3), get('x', '1', 4, 5)]).ok, true);
  });

  test('property: any history produced by a sequential register is linearizable, whatever the overlaps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ write: fc.boolean(), key: fc.constantFrom('a', 'b'), stretch: fc.nat(6) }), { maxLength: 30 }),
        (steps) => {
          // Apply operations one at a time at instants 10, 20, ...; widen each interval around its instant.
          const state = new Map<string, string>();
          const ops = steps.map((s, i) => {
            const at = 10 * (i + 1);
            const call = at - 1 - s.stretch * 3;
            const ret = at + 1 + s.stretch * 3;
            if (s.write) {
              state.set(s.key, `v${i}`);
              return put(s.key, `v${i}`, call, ret);
            }
            return get(s.key, state.get(s.key) ?? '', call, ret);
          });
          return checkLinearizable(kvModel, ops).ok;
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});
