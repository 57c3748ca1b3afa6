import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../../../cli/main';

/** Runs the CLI in-process with stderr silenced; usage errors never reach the network. */
async function exitCodeOf(...args: string[]): Promise<number> {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await run(['node', 'bicycle', '--host', '127.0.0.1:1', ...args]);
  } finally {
    process.stderr.write = write;
  }
}

describe('exit codes', () => {
  it('is 2 for usage errors', async () => {
    assert.equal(await exitCodeOf('service', 'scale', 'web=-1'), 2);
    assert.equal(await exitCodeOf('service', 'scale', 'web'), 2);
    assert.equal(await exitCodeOf('service', 'add', 'web'), 2);
    assert.equal(await exitCodeOf('service', 'add', 'web', '--image', 'x', '--replicas', 'many'), 2);
    assert.equal(await exitCodeOf('service', 'update', 'web'), 2);
    assert.equal(await exitCodeOf('service', 'logs', 'web', '--tail', 'x'), 2);
    assert.equal(await exitCodeOf('bogus'), 2);
    assert.equal(await exitCodeOf('service'), 2);
    assert.equal(await exitCodeOf('node', 'drain'), 2);
    assert.equal(await exitCodeOf('node', 'drain', 'host-3', '--timeout', '0'), 2);
    assert.equal(await exitCodeOf('node', 'activate'), 2);
    assert.equal(await exitCodeOf('node', 'pause'), 2);
    assert.equal(await exitCodeOf('node', 'rm'), 2);
    assert.equal(await exitCodeOf('node', 'promote'), 2);
    assert.equal(await exitCodeOf('node', 'demote'), 2);
    assert.equal(await exitCodeOf('node', 'join-token', 'extra'), 2);
    assert.equal(await exitCodeOf('service', 'rebalance'), 2);
    assert.equal(await exitCodeOf('service', 'add', 'web', '--image', 'x', '--publish', '8080:'), 2);
    assert.equal(await exitCodeOf('service', 'add', 'web', '--image', 'x', '-p', '8080:80', '-p', '8080:81'), 2);
    assert.equal(await exitCodeOf('service', 'update', 'web', '--publish-add', 'published=x'), 2);
    assert.equal(await exitCodeOf('service', 'update', 'web', '--publish-rm', 'http'), 2);
  });
  it('is 1 when the daemon cannot be reached', async () => {
    assert.equal(await exitCodeOf('service', 'ls'), 1);
    assert.equal(await exitCodeOf('node', 'drain', 'host-3', '-d'), 1);
  });
});
