import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { renderLogRecord } from '../../../cli/commands/service-logs';

describe('service logs: rendering the NDJSON records', () => {
  test('lines are prefixed by their replica, padded to the widest replica seen so far', () => {
    const layout = { width: 0 };
    const line = (replica: string, text: string) => renderLogRecord(JSON.stringify({ type: 'line', replica, node: 'host-1', text }), layout);
    assert.equal(line('web.1', 'up'), 'web.1 | up');
    assert.equal(line('web.10', 'up'), 'web.10 | up');
    assert.equal(line('web.2', 'tick'), 'web.2  | tick');
    assert.equal(line('web.2', ''), 'web.2  | ');
  });

  test('the loss marker, with the time in the user\'s time zone', () => {
    const at = new Date(2026, 11, 3, 12, 0, 3).getTime();
    const record = { type: 'lost', replica: 'web.2', node: 'host-2', at, replacement: { replica: 'web.2', node: 'host-3' } };
    assert.equal(renderLogRecord(JSON.stringify(record), { width: 0 }), '--- web.2 on host-2: lost at 12:00:03, replaced by web.2 on host-3 ---');
    assert.equal(renderLogRecord(JSON.stringify(record), { width: 0 }, () => 'T'), '--- web.2 on host-2: lost at T, replaced by web.2 on host-3 ---');
  });

  test('the last line of a removed service; a line that is no record is shown as it came', () => {
    assert.equal(renderLogRecord('{"type":"removed","service":"web"}', { width: 0 }), '--- service web removed ---');
    assert.equal(renderLogRecord('web.1 | plain text', { width: 0 }), 'web.1 | plain text');
  });
});
