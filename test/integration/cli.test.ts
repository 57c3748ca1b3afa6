import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { cliPath, startDaemon } from '../helpers/daemon';
import { runCli, type CliResult } from '../helpers/cli';

// Drives the built `bicycle` as a child process against a real bicycled.
// Needs Docker and the image built by scripts/build-test-images.sh.

const IMAGE = 'bicycle/busybox:test';
const run = `cli${Date.now().toString(36)}`;
const web = `${run}-web`;

type Daemon = Awaited<ReturnType<typeof startDaemon>>;
let daemon: Daemon;

type Result = CliResult;

/** Runs `bicycle ARGS...` against the test daemon and collects its output. */
function bicycle(...args: string[]): Promise<Result> {
  return runCli(daemon.url, ...args);
}

/** Runs a streaming command until its stdout matches, then interrupts it as Ctrl-C would. */
function followUntil(pattern: RegExp, timeoutMs: number, ...args: string[]): Promise<{ stdout: string; code: number | null; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath(), ...args], {
      env: { ...process.env, BICYCLE_HOST: daemon.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (pattern.test(stdout)) child.kill('SIGINT');
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pattern.test(stdout)) resolve({ stdout, code, signal });
      else reject(new Error(`bicycle ${args.join(' ')} ended (code ${code}) before printing ${pattern}; stderr: ${stderr}`));
    });
  });
}

function expectOk(result: Result, what: string): void {
  assert.equal(result.code, 0, `${what} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

async function inspect(name: string): Promise<any> {
  const result = await bicycle('service', 'inspect', name);
  expectOk(result, `service inspect ${name}`);
  return JSON.parse(result.stdout);
}

/** Retries `check` for up to `timeoutMs`, for what the daemon does after answering. */
async function eventually(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function requireDocker(): Promise<void> {
  try {
    await promisify(execFile)('docker', ['image', 'inspect', IMAGE]);
  } catch (err) {
    throw new Error(
      `the CLI integration test needs a Docker engine and the image ${IMAGE} ` +
        `(build it with scripts/build-test-images.sh): ${(err as Error).message}`,
    );
  }
}

async function containersOf(service: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)('docker', ['ps', '-aq', '--filter', `label=io.bicycle.service=${service}`]);
  return stdout.split('\n').filter(Boolean);
}

const T = { timeout: 120_000 };

describe('bicycle CLI against a real daemon', { timeout: 600_000 }, () => {
  before(async () => {
    await requireDocker();
    daemon = await startDaemon({ name: `${run}-node` });
  });

  after(async () => {
    if (!daemon) return;
    await bicycle('service', 'rm', '-d', web).catch(() => undefined);
    await daemon.stop();
  });

  it('service add waits until the replicas run and prints the name', T, async () => {
    const result = await bicycle(
      'service', 'add', web, '--image', IMAGE, '--replicas', '2', '--env', 'GREETING=hello', '--label', 'suite=cli',
      '--timeout', '90', '--', 'sh', '-c', 'echo "$GREETING from $HOSTNAME"; while true; do echo tick; sleep 1; done',
    );
    expectOk(result, 'service add');
    assert.equal(result.stdout, `${web}\n`);
    assert.match(result.stderr, new RegExp(`^${web}: 2/2 running$`, 'm'));
    const service = await inspect(web);
    assert.equal(service.replicas, 2);
    assert.equal(service.running, 2);
    assert.deepEqual(service.command, ['sh', '-c', 'echo "$GREETING from $HOSTNAME"; while true; do echo tick; sleep 1; done']);
    assert.deepEqual(service.env, { GREETING: 'hello' });
    assert.deepEqual(service.labels, { suite: 'cli' });
  });

  it('service add refuses a duplicate name with the daemon message', T, async () => {
    const result = await bicycle('service', 'add', web, '--image', IMAGE, '-d');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^bicycle: .+/);
    assert.equal(result.stdout, '');
  });

  it('service ls shows running/desired, --json the raw list', T, async () => {
    const table = await bicycle('service', 'ls');
    expectOk(table, 'service ls');
    assert.match(table.stdout, /^NAME +IMAGE +REPLICAS +STATE +VERSION +PORTS\n/);
    assert.match(table.stdout, new RegExp(`^${web} +${IMAGE.replace(/[/.]/g, '\\$&')} +2/2 +[A-Z]+ +\\d+$`, 'm'));
    const json = await bicycle('service', 'ls', '--json');
    expectOk(json, 'service ls --json');
    const listed = (JSON.parse(json.stdout) as any[]).find((s) => s.name === web);
    assert.ok(listed, `${web} missing from service ls --json`);
    assert.equal(listed.replicas, 2);
  });

  it('service ps lists one running task per replica', T, async () => {
    const table = await bicycle('service', 'ps', web);
    expectOk(table, 'service ps');
    assert.match(table.stdout, /^ID +NAME +NODE +DESIRED STATE +CURRENT STATE +HEALTH +ERROR\n/);
    for (const slot of [1, 2]) {
      assert.match(table.stdout, new RegExp(`^[0-9a-zA-Z-]{1,12} +${web}\\.${slot} +${daemon.name} +RUNNING +RUNNING \\d+[smhd]`, 'm'));
    }
    const json = await bicycle('service', 'ps', web, '--json');
    expectOk(json, 'service ps --json');
    const running = (JSON.parse(json.stdout) as any[]).filter((t) => t.desiredState === 'RUNNING');
    assert.equal(running.length, 2);
  });

  it('service scale waits for the new count', T, async () => {
    const result = await bicycle('service', 'scale', `${web}=3`, '--timeout', '90');
    expectOk(result, 'service scale');
    assert.equal(result.stdout, `${web} scaled to 3\n`);
    const service = await inspect(web);
    assert.equal(service.replicas, 3);
    assert.equal(service.running, 3);
  });

  it('service scale refuses a bad replica count before calling the daemon', T, async () => {
    for (const bad of [`${web}=-1`, `${web}=two`, `${web}=1.5`]) {
      const result = await bicycle('service', 'scale', bad);
      assert.equal(result.code, 2, `scale ${bad}: ${result.stderr}`);
      assert.match(result.stderr, /replica count must be a whole number/);
    }
    assert.equal((await inspect(web)).replicas, 3);
  });

  it("service scale reports the daemon's refusal of a count out of its range", T, async () => {
    const result = await bicycle('service', 'scale', `${web}=1000000`, '-d');
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^bicycle: .*replicas/);
    assert.equal((await inspect(web)).replicas, 3);
  });

  it('service update rolls out env changes, sending env whole', T, async () => {
    const before = await inspect(web);
    const result = await bicycle('service', 'update', web, '--env', 'GREETING=bonjour', '--env', 'EXTRA=1', '--timeout', '90');
    expectOk(result, 'service update');
    const updated = await inspect(web);
    assert.deepEqual(updated.env, { GREETING: 'bonjour', EXTRA: '1' });
    assert.ok(updated.version > before.version, `version ${updated.version} should be above ${before.version}`);
    // Task versions count spec changes only (a scale bumps service.version,
    // not them), so the rollout is judged against the tasks before it.
    const oldTaskVersion = Math.max(...before.tasks.map((t: any) => t.version));
    const wanted = updated.tasks.filter((t: any) => t.desiredState === 'RUNNING');
    assert.equal(wanted.length, 3);
    for (const task of wanted) {
      assert.equal(task.state, 'RUNNING');
      assert.ok(task.version > oldTaskVersion, `${task.name} at version ${task.version}, not above ${oldTaskVersion}`);
    }

    const removal = await bicycle('service', 'update', web, '--env-rm', 'EXTRA', '--timeout', '90');
    expectOk(removal, 'service update --env-rm');
    assert.deepEqual((await inspect(web)).env, { GREETING: 'bonjour' });
  });

  it('service logs prints replica-prefixed lines; -f streams until interrupted', T, async () => {
    await eventually(async () => {
      const result = await bicycle('service', 'logs', web, '--tail', '200');
      expectOk(result, 'service logs');
      assert.match(result.stdout, new RegExp(`^${web}\\.\\d+ +\\| .*bonjour from`, 'm'));
    });
    const followed = await followUntil(new RegExp(`^${web}\\.\\d+ +\\| tick$`, 'm'), 20_000, 'service', 'logs', web, '-f', '--tail', '1');
    assert.match(followed.stdout, /tick/);
  });

  it("logs prints the daemon's own log; -f streams", T, async () => {
    const result = await bicycle('logs', '--tail', '20');
    expectOk(result, 'logs');
    assert.ok(result.stdout.trim().length > 0, 'the daemon log is empty');
    assert.ok(result.stdout.trim().split('\n').length <= 20, 'more lines than --tail asked for');
    await followUntil(/\n/, 20_000, 'logs', '-f', '--tail', '5');
  });

  it('node ls shows this node as leader', T, async () => {
    const table = await bicycle('node', 'ls');
    expectOk(table, 'node ls');
    assert.match(table.stdout, /^ID +NAME +ADDRESS +ROLE +STATUS +AVAILABILITY +LEADER +TASKS +LABELS\n/);
    assert.match(table.stdout, new RegExp(` ${daemon.name} .* \\* +\\d+( +\\S.*)?\\s*$`, 'm'));
    const json = await bicycle('node', 'ls', '--json');
    expectOk(json, 'node ls --json');
    const nodes = JSON.parse(json.stdout) as any[];
    assert.equal(nodes.length, 1);
    assert.equal(nodes[0].leader, true);
  });

  it('state --json prints the cluster; without it a summary', T, async () => {
    const json = await bicycle('state', '--json');
    expectOk(json, 'state --json');
    const state = JSON.parse(json.stdout);
    assert.ok(state.cluster.id, 'cluster id missing');
    assert.ok(state.cluster.term >= 1, 'term should be at least 1');
    assert.equal(state.nodes.length, 1);
    assert.ok(state.services.some((s: any) => s.name === web), `${web} missing from state.services`);
    assert.equal(state.containers.filter((c: any) => c.service === web).length, 3);

    const text = await bicycle('state');
    expectOk(text, 'state');
    assert.match(text.stdout, /^Cluster: +\S+\nLeader: +\S+ \(term \d+\)\n/);
    assert.match(text.stdout, new RegExp(`^${web} +\\S+ +3/3 `, 'm'));
  });

  it('node join-token prints the token, and on stderr how to use it; --json the answer', T, async () => {
    const result = await bicycle('node', 'join-token');
    expectOk(result, 'node join-token');
    assert.match(result.stdout, /^BCT2-\S+\n$/);
    const token = result.stdout.trim();
    assert.ok(result.stderr.includes(`bicycled --name NAME --advertise HOST:PORT --join `), result.stderr);
    assert.ok(result.stderr.includes(`--token ${token}`), result.stderr);
    const json = await bicycle('node', 'join-token', '--json');
    expectOk(json, 'node join-token --json');
    assert.equal(JSON.parse(json.stdout).token, token);
    assert.equal(json.stderr, '');
  });

  it('node drain on the only node stops its replicas, which wait; activate --rebalance brings them back', T, async () => {
    const drained = await bicycle('node', 'drain', daemon.name, '--timeout', '60');
    expectOk(drained, 'node drain');
    assert.equal(drained.stdout, `${daemon.name}\n`);
    // The daemon may have told them to stop before the first look: then only "stopping" shows.
    assert.match(drained.stderr, new RegExp(`^${daemon.name}: \\d+ replicas? (still to move|stopping)\n`));
    assert.match(drained.stderr, new RegExp(`\n${daemon.name}: drained\n$`));
    const waiting = await bicycle('service', 'ps', web, '--json');
    expectOk(waiting, 'service ps --json');
    const wanted = (JSON.parse(waiting.stdout) as any[]).filter((t) => t.desiredState === 'RUNNING');
    assert.ok(wanted.every((t) => t.node === null && t.state !== 'RUNNING'), `replicas should wait for a node: ${waiting.stdout}`);
    const table = await bicycle('node', 'ls');
    assert.match(table.stdout, new RegExp(` ${daemon.name} .* drain +\\* +0$`, 'm'));

    const activated = await bicycle('node', 'activate', daemon.name, '--rebalance');
    expectOk(activated, 'node activate --rebalance');
    assert.equal(activated.stdout, `${daemon.name}\n`);
    assert.match(activated.stderr, new RegExp(`^rebalancing .*\\b${web}\\b`, 'm'));
    await eventually(async () => {
      const ps = await bicycle('service', 'ps', web);
      expectOk(ps, 'service ps');
      for (const slot of [1, 2, 3]) {
        assert.match(ps.stdout, new RegExp(`^\\S+ +${web}\\.${slot} +${daemon.name} +RUNNING +RUNNING `, 'm'));
      }
    }, 60_000);
  });

  it('service rebalance on a single node returns promptly', T, async () => {
    const started = Date.now();
    const result = await bicycle('service', 'rebalance', web, '--timeout', '30');
    expectOk(result, 'service rebalance');
    assert.equal(result.stdout, `${web}\n`);
    assert.match(result.stderr, new RegExp(`^${web}: balanced, 3/3 running \\(${daemon.name} 3\\)$`, 'm'));
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    assert.equal((await inspect(web)).rebalancing, false);
  });

  it("node rm, drain and promote of an unknown node exit 1 printing the daemon's message", T, async () => {
    const missing = `${run}-nosuchnode`;
    const res = await fetch(`${daemon.url}/nodes/${missing}`);
    assert.equal(res.status, 404);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'NODE_NOT_FOUND');
    for (const args of [['node', 'rm', missing], ['node', 'drain', missing], ['node', 'promote', missing], ['node', 'pause', missing]]) {
      const result = await bicycle(...args);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr, `bicycle: ${error.message}\n`, args.join(' '));
      assert.equal(result.stdout, '');
    }
  });

  it("an unknown service exits 1 printing the daemon's message", T, async () => {
    const missing = `${run}-missing`;
    const res = await fetch(`${daemon.url}/services/${missing}`);
    assert.equal(res.status, 404);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    for (const args of [['service', 'inspect', missing], ['service', 'ps', missing], ['service', 'scale', `${missing}=2`], ['service', 'rm', missing]]) {
      const result = await bicycle(...args);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr, `bicycle: ${error.message}\n`, args.join(' '));
    }
  });

  it('service rm waits until the service and its containers are gone', T, async () => {
    const result = await bicycle('service', 'rm', web, '--timeout', '90');
    expectOk(result, 'service rm');
    assert.equal(result.stdout, `${web}\n`);
    assert.match(result.stderr, new RegExp(`^${web}: removed$`, 'm'));
    const gone = await bicycle('service', 'inspect', web);
    assert.equal(gone.code, 1);
    await eventually(async () => assert.deepEqual(await containersOf(web), []));
  });

  it('a wait that times out exits 1 saying what is pending; -d does not wait', T, async () => {
    const broken = `${run}-broken`;
    try {
      // Fewer failures than --max-failures allows fit in 2 s (the back-off waits 1 s, then 2 s): the wait times out.
      const result = await bicycle('service', 'add', broken, '--image', 'bicycle/does-not-exist:test', '--replicas', '2', '--timeout', '2', '--max-failures', '4');
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`^bicycle: ${broken} did not converge within 2s \\(0/2 running`, 'm'));
      assert.match(result.stderr, new RegExp(`^  ${broken}\\.1\\b.*`, 'm'));
      assert.equal(result.stdout, '');

      const detached = await bicycle('service', 'scale', `${broken}=1`, '-d');
      expectOk(detached, 'service scale -d');
      assert.equal(detached.stdout, `${broken} scaled to 1\n`);
      assert.equal(detached.stderr, '');
    } finally {
      expectOk(await bicycle('service', 'rm', broken, '--timeout', '60'), 'service rm');
    }
  });

  it('service add gives up once every replica failed more than --max-failures times, saying why', T, async () => {
    const broken = `${run}-hopeless`;
    try {
      const result = await bicycle('service', 'add', broken, '--image', 'bicycle/does-not-exist:test', '--replicas', '2', '--max-failures', '1', '--timeout', '60');
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`; ${broken}\\.\\d failed (once|\\d times): image bicycle/does-not-exist:test`, 'm'), 'progress names a failing replica and why');
      assert.match(result.stderr, new RegExp(`^bicycle: ${broken}: every replica failed more than 1 time; the last, ${broken}\\.\\d: image bicycle/does-not-exist:test`, 'm'));
      assert.match(result.stderr, new RegExp(`^  ${broken}\\.1\\b.*`, 'm'));
      assert.equal(result.stdout, '');
    } finally {
      expectOk(await bicycle('service', 'rm', broken, '--timeout', '60'), 'service rm');
    }
  });

  it('says the daemon is not running when nothing listens', T, async () => {
    const port = await closedPort();
    const result = await bicycle('--host', `127.0.0.1:${port}`, 'service', 'ls');
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `bicycle: cannot reach bicycled at http://127.0.0.1:${port}: is it running?\n`);
  });
});
