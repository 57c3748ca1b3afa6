import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachSnapshotRow, SnapshotFormatError } from '../../daemon/voting/snapshot-rows';

const rowsOf = (data: string) => {
  const rows: [string, Record<string, unknown>][] = [];
  forEachSnapshotRow(data, (table, row) => rows.push([table, row]));
  return rows;
};

describe('forEachSnapshotRow: a snapshot read one row at a time', () => {
  test('gives every row of every table, in order, as JSON.parse of the whole would', () => {
    const snapshot = {
      meta: [{ key: 'cluster_id', value: 'c1' }],
      nodes: [],
      services: [{ name: 'web', env: '{"A":"}{","B":"\\"quoted\\" ]"}', labels: '{}', replicas: 3, prepull: null }],
      tasks: [{ id: 't1', error: 'no node fits: {"zone":"a"}', slot: 1 }, { id: 't2', error: null, slot: 2 }],
    };
    const text = JSON.stringify(snapshot);
    const expected = Object.entries(snapshot).flatMap(([table, rows]) => rows.map((row) => [table, row] as [string, Record<string, unknown>]));
    assert.deepEqual(rowsOf(text), expected);
    // Whitespace between tokens, as a pretty-printed snapshot has it.
    assert.deepEqual(rowsOf(JSON.stringify(snapshot, null, 2)), expected);
  });

  test('an empty snapshot and empty tables give no rows', () => {
    assert.deepEqual(rowsOf('{}'), []);
    assert.deepEqual(rowsOf('{"meta":[],"tasks":[]}'), []);
  });

  test('text that is not a map of tables to row lists is refused, naming where', () => {
    for (const [text, detail] of [
      ['[]', "expected '{' at offset 0"],
      ['{"tasks":{}}', "expected '[' at offset 9"],
      ['{"tasks":[1]}', 'expected a row at offset 10'],
      ['{"tasks":[{"id":"t1"}', "expected ']' at offset 21, found the end"],
      ['{"tasks":[{"id":"t1}]}', 'a string that starts at offset 16 never ends'],
      ['{"tasks":[]} extra', 'unexpected "extra" after the end'],
    ] as const) {
      assert.throws(() => rowsOf(text), (error: unknown) => error instanceof SnapshotFormatError && error.message.includes(detail), text);
    }
  });
});
