import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { runCli, type CliResult } from '../helpers/cli';
import { TEST_IMAGE } from '../helpers/docker';
import { waitFor } from '../helpers/wait';

// The built `bicycle` against a lab of three hosts, each with its own engine,
// always talking to host-2 (a follower, or the leader: either must do).

type Result = CliResult;

let lab: Lab;

/** Runs `bicycle --host host-2 ARGS...` and collects its output. */
function bicycle(...args: string[]): Promise<Result> {
  return runCli(lab.host(2).url, '--host', lab.host(2).url, ...args);
}

function expectOk(result: Result, what: string): void {
  assert.equal(result.code, 0, `${what} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

/** Running containers of a service in one host's own engine. */
async function runningOn(i: number, service: string): Promise<number> {
  const list = await lab.host(i).docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } });
  return list.length;
}

const perHost = () => Promise.all([1, 2, 3].map((i) => runningOn(i, 'web')));

describe('bicycle against a cluster of three hosts', { timeout: 120_000 }, () => {
  before(async () => {
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-cli-lab-')), 3, { subnet: freeSubnet() });
    await lab.up();
  });
  after(async () => {
    await lab?.down();
  });

  test('service add through host-2 spreads 6 replicas, 2 on each engine', async () => {
    const result = await bicycle('service', 'add', 'web', '--image', TEST_IMAGE, '--replicas', '6', '--timeout', '60', '--', 'sleep', '3600');
    expectOk(result, 'service add');
    assert.equal(result.stdout, 'web\n');
    assert.deepEqual(await perHost(), [2, 2, 2]);
  });

  test('node ls shows three READY managers, one of them leader, and no warning', async () => {
    const result = await bicycle('node', 'ls');
    expectOk(result, 'node ls');
    const rows = result.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 3, result.stdout);
    for (const host of lab.hosts) {
      assert.match(result.stdout, new RegExp(`^\\S+ +${host.name} +${host.address.replace(/\./g, '\\.')} +manager +READY +active\\b`, 'm'));
    }
    assert.equal(rows.filter((row) => / \* /.test(row)).length, 1, result.stdout);
    assert.equal(result.stderr, '');
  });

  test('node drain host-3 returns once host-3 runs none of the replicas; the others run them all', async () => {
    const result = await bicycle('node', 'drain', 'host-3', '--timeout', '60');
    expectOk(result, 'node drain');
    assert.equal(result.stdout, 'host-3\n');
    assert.match(result.stderr, /^host-3: 2 replicas (still to move|stopping)\n/);
    assert.match(result.stderr, /\nhost-3: drained\n$/);
    assert.equal(await runningOn(3, 'web'), 0, 'host-3 still runs replicas of web');
    await waitFor('6 replicas on host-1 and host-2', async () => {
      const [one, two, three] = await perHost();
      return one! + two! === 6 && three === 0;
    }, 30_000, 200);
  });

  test('node activate host-3 --rebalance brings 2 replicas back to each engine', async () => {
    const result = await bicycle('node', 'activate', 'host-3', '--rebalance');
    expectOk(result, 'node activate');
    assert.equal(result.stdout, 'host-3\n');
    assert.match(result.stderr, /^rebalancing web: /m);
    await waitFor('2 replicas on each engine', async () => (await perHost()).every((n) => n === 2), 30_000, 200);
    const even = await bicycle('service', 'rebalance', 'web', '--timeout', '30');
    expectOk(even, 'service rebalance');
    assert.match(even.stderr, /^web: balanced, 6\/6 running \(host-1 2, host-2 2, host-3 2\)$/m);
  });
});
