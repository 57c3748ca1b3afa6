import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HOST, normaliseHost } from '../../../cli/host';

describe('normaliseHost', () => {
  const cases: [string | undefined, string][] = [
    [undefined, DEFAULT_HOST],
    ['', DEFAULT_HOST],
    ['127.0.0.1:7070', 'http://127.0.0.1:7070'],
    ['node-a:8080', 'http://node-a:8080'],
    [':9000', 'http://127.0.0.1:9000'],
    ['node-a', 'http://node-a:7070'],
    ['http://node-a:7070/', 'http://node-a:7070'],
    ['https://bicycle.example.com', 'https://bicycle.example.com'],
    ['http://10.0.0.1:7070/api', 'http://10.0.0.1:7070/api'],
    ['[::1]:7070', 'http://[::1]:7070'],
    ['  localhost:7070  ', 'http://localhost:7070'],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} → ${want}`, () => assert.equal(normaliseHost(input), want));
  }

  it('refuses other schemes', () => {
    assert.throws(() => normaliseHost('unix:///var/run/bicycle.sock'), /only http/);
  });
  it('refuses what is not an address', () => {
    assert.throws(() => normaliseHost('http://bad host:70'), /invalid --host/);
  });
});
