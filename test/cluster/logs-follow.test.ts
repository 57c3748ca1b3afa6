import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { cliPath } from '../helpers/daemon';
import { waitFor } from '../helpers/wait';

// `bicycle service logs web --follow` against host-1 of a three-host lab:
// the replicas of every host print in the one command; host-2 is lost; the
// command marks the gap with the lost replica, its node and the time of the
// loss, names the replacement, and goes on with its lines.

/** Each replica prints `<its hostname> <counter>` every 100 ms. */
const COUNTER = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "$(hostname) $i"; sleep 0.1; done'];
const MARKER = /^--- (web\.\d+) on host-2: lost at (\d\d:\d\d:\d\d), replaced by (web\.\d+) on (host-[13]) ---$/m;

describe('service logs --follow across the loss of a node', () => {
  let lab: Lab;
  let follower: ChildProcess | undefined;
  let stdout = '';
  let stderr = '';

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-logs-')), 3, { subnet: freeSubnet() });
    await lab.up();
    const res = await api(lab.host(1).url).post('/services?wait=true&timeout=60', { name: 'web', image: TEST_IMAGE, replicas: 3, command: COUNTER });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  });
  after(async () => {
    follower?.kill('SIGKILL');
    await lab?.down();
  });

  test('the follow from host-1 marks host-2\'s replica lost, names its replacement and prints the replacement\'s lines', async () => {
    const tasks = (await api(lab.host(1).url).get('/services/web')).body.tasks as Array<{ name: string; node: string; state: string }>;
    const onHost2 = tasks.filter((t) => t.state === 'RUNNING' && t.node === 'host-2').map((t) => t.name);
    assert.equal(onHost2.length, 1, `one replica on host-2: ${JSON.stringify(tasks)}`);

    // The lab's token once the API asks for one (a lab that has none needs none).
    const token = (lab as unknown as { adminToken?: string }).adminToken;
    follower = spawn(process.execPath, [cliPath(), 'service', 'logs', 'web', '--follow', '--tail', '0'], {
      env: { ...process.env, BICYCLE_HOST: lab.host(1).url, ...(token ? { BICYCLE_TOKEN: token } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    follower.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
    follower.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
    const replicasSeen = () => new Set([...stdout.matchAll(/^(web\.\d+) +\| \S+ \d+$/gm)].map((m) => m[1]));
    await waitFor('lines of the three replicas, from three hosts', async () => replicasSeen().size === 3 || undefined, 15_000, 100)
      .catch((error: Error) => assert.fail(`${error.message}\nstdout: ${stdout.slice(-1000)}\nstderr: ${stderr}`));

    const killedAt = Date.now();
    await lab.kill(2);
    const marker = await waitFor('the marker of the lost replica', async () => MARKER.exec(stdout) ?? undefined, 60_000, 100)
      .catch((error: Error) => assert.fail(`${error.message}\nstdout: ${stdout.slice(-1500)}\nstderr: ${stderr}`));
    const [line, lostReplica, at, replacement, newNode] = marker;
    console.log(`marker ${Date.now() - killedAt} ms after the kill: ${line}`);
    assert.equal(lostReplica, onHost2[0]);
    assert.equal(replacement, lostReplica, 'the replacement takes the lost replica\'s slot');
    // The time of the loss, in this process's (the user's) local time: after the kill, within the minute.
    const [h, m, s] = at!.split(':').map(Number);
    const lossAt = new Date(killedAt);
    lossAt.setHours(h!, m!, s!, 999);
    assert.ok(lossAt.getTime() >= killedAt && lossAt.getTime() - killedAt < 60_000, `lost at ${at}, killed at ${new Date(killedAt).toTimeString()}`);

    // After the marker: the replacement's lines (a new container, counting from 1) on the other host.
    const afterMarker = () => stdout.slice(stdout.indexOf(line!) + line!.length);
    const firstLines = await waitFor('three lines of the replacement after the marker', async () => {
      const counters = [...afterMarker().matchAll(new RegExp(`^${replacement!.replace('.', '\\.')} +\\| (\\S+) (\\d+)$`, 'gm'))].map((x) => Number(x[2]));
      return counters.length >= 3 ? counters : undefined;
    }, 15_000, 100);
    assert.deepEqual(firstLines.slice(0, 3), [1, 2, 3], 'the replacement is shown from its first line');
    const placed = (await api(lab.host(1).url).get('/services/web')).body.tasks as Array<{ name: string; node: string; state: string }>;
    assert.ok(placed.some((t) => t.name === replacement && t.node === newNode && t.state === 'RUNNING'), `the marker names where the replacement runs: ${JSON.stringify(placed)}`);
    // The replicas that stayed go on in the same command.
    const others = [...replicasSeen()].filter((r) => r !== lostReplica);
    for (const replica of others) assert.match(afterMarker(), new RegExp(`^${replica.replace('.', '\\.')} +\\| \\S+ \\d+$`, 'm'), `${replica} goes on after the marker`);
    // Every container's counter, the remote ones' too, without a gap or a repeat: no line lost, none twice.
    const byContainer = new Map<string, number[]>();
    for (const x of stdout.matchAll(/^web\.\d+ +\| (\S+) (\d+)$/gm)) byContainer.set(x[1]!, [...(byContainer.get(x[1]!) ?? []), Number(x[2])]);
    for (const [host, counters] of byContainer) {
      const gaps = counters.flatMap((n, i) => (i > 0 && n !== counters[i - 1]! + 1 ? [`${counters[i - 1]}→${n}`] : []));
      assert.deepEqual(gaps, [], `container ${host}: ${counters.length} lines`);
    }
    assert.equal(follower.exitCode, null, `the follow is still running; stderr: ${stderr}`);
  });
});
