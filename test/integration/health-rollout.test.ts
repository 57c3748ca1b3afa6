import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { freePort, removeDataDir, startDaemon, type TestDaemon } from '../helpers/daemon';
import { clusterContainers, execInContainer, requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';
import { startLoad } from '../../scripts/lab/http-load';

/** httpd that is healthy while /tmp/healthy exists; `BAD` leaves the file out, so its check never passes. */
const GOOD = ['sh', '-c', 'touch /tmp/healthy && exec httpd -f -p 80 -h /www'];
const BAD = ['sh', '-c', 'exec httpd -f -p 80 -h /www'];
const CHECK = { test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: '500ms', timeout: '1s', retries: 2 };

/** Replicas wanted running, running and healthy, by the service's own answer. */
function healthyOf(view: any): any[] {
  return view.tasks.filter((t: any) => t.desiredState === 'RUNNING' && t.state === 'RUNNING' && t.health === 'healthy');
}

describe('health checks, restart policies, rolling updates and rollback, against the real engine', () => {
  let docker: Docker;
  let daemon: TestDaemon;
  let cluster: string;
  const service = async (name: string) => (await api(daemon.url).get(`/services/${name}`)).body;
  const remove = async (name: string) => {
    await api(daemon.url).delete(`/services/${name}?wait=true&timeout=60`);
  };

  before(async () => {
    docker = await requireDocker();
    daemon = await startDaemon({ name: 'node-1' });
    cluster = await daemon.clusterId();
  });
  after(async () => {
    await daemon?.stop();
    removeDataDir(daemon.dataDir);
  });

  test('a passing health check: tasks go starting → healthy; ls and State count healthy replicas', async () => {
    const res = await api(daemon.url).post('/services', { name: 'hc', image: TEST_IMAGE, replicas: 2, command: GOOD, healthcheck: { ...CHECK, interval: '2s' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const seen = new Set<string>();
    await waitFor('both replicas healthy', async () => {
      const view = await service('hc');
      for (const t of view.tasks) if (t.health) seen.add(t.health);
      return healthyOf(view).length === 2;
    }, 30_000, 100);
    assert.ok(seen.has('starting'), `starting was seen before healthy (${[...seen].join(', ')})`);
    const listed = (await api(daemon.url).get('/services')).body.services.find((s: any) => s.name === 'hc');
    assert.equal(listed.healthy, 2);
    const state = (await api(daemon.url).get('/state')).body;
    assert.equal(state.services.find((s: any) => s.name === 'hc').healthy, 2);
    const containers = state.containers.filter((c: any) => c.service === 'hc' && c.desiredState === 'RUNNING');
    assert.deepEqual(containers.map((c: any) => c.health), ['healthy', 'healthy']);
    const [container] = (await clusterContainers(docker, cluster, { 'io.bicycle.service': 'hc' })).filter((c) => c.state === 'running');
    const info = await docker.getContainer(container!.id).inspect();
    assert.deepEqual(info.Config.Healthcheck?.Test, ['CMD-SHELL', 'test -f /tmp/healthy']);
    assert.equal(info.Config.Healthcheck?.Interval, 2_000_000_000);
    await remove('hc');
  });

  test('a replica whose check starts failing is replaced; the others keep running', async () => {
    await api(daemon.url).post('/services', { name: 'sick', image: TEST_IMAGE, replicas: 3, command: GOOD, healthcheck: CHECK });
    await waitFor('3 healthy', async () => healthyOf(await service('sick')).length === 3, 30_000);
    const before = healthyOf(await service('sick'));
    const victim = before[0]!;
    await execInContainer(docker, victim.containerId, ['rm', '/tmp/healthy']);
    const after = await waitFor('the sick replica replaced by a healthy one', async () => {
      const view = await service('sick');
      const healthy = healthyOf(view);
      return healthy.length === 3 && !healthy.some((t: any) => t.id === victim.id) ? view : undefined;
    }, 30_000);
    const failed = after.tasks.find((t: any) => t.id === victim.id);
    assert.equal(failed.state, 'FAILED');
    assert.match(failed.error, /container is unhealthy/);
    const kept = healthyOf(after).map((t: any) => t.containerId).sort();
    for (const t of before.slice(1)) assert.ok(kept.includes(t.containerId), 'the healthy replicas were not touched');
    await remove('sick');
  });

  test('a good start-first update behind a published port: 0 failed requests of 8 connections', async () => {
    const port = await freePort('0.0.0.0');
    const spec = {
      name: 'roll', image: TEST_IMAGE, replicas: 6, command: GOOD, healthcheck: CHECK,
      ports: [{ published: port, target: 80 }], update: { parallelism: 2, order: 'start-first', monitor: '1s' },
    };
    assert.equal((await api(daemon.url).post('/services', spec)).status, 201);
    await waitFor('6 healthy', async () => healthyOf(await service('roll')).length === 6, 60_000);
    await waitFor('the port answers', async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) })).ok, 20_000);
    const load = startLoad([`127.0.0.1:${port}`], { connections: 8, timeoutMs: 5000 });
    const res = await api(daemon.url).patch('/services/roll?wait=true&timeout=120', { env: { RELEASE: '2' } });
    const result = await load.stop();
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'RUNNING', JSON.stringify(res.body.updateStatus));
    assert.equal(healthyOf(res.body).filter((t: any) => t.version === res.body.specVersion).length, 6);
    assert.ok(result.ok > 100, `requests were served (${result.ok})`);
    assert.deepEqual(result.failed.slice(0, 5), [], `${result.failed.length} of ${result.samples.length} requests failed`);
    await remove('roll');
  });

  test('a bad update with failureAction rollback: rolled back to the old spec, never below 6 − parallelism healthy, 0 failed requests', async () => {
    const port = await freePort('0.0.0.0');
    const spec = {
      name: 'bad', image: TEST_IMAGE, replicas: 6, command: GOOD, healthcheck: CHECK, ports: [{ published: port, target: 80 }],
      update: { parallelism: 2, order: 'start-first', monitor: '1s', failureAction: 'rollback' },
    };
    assert.equal((await api(daemon.url).post('/services', spec)).status, 201);
    await waitFor('6 healthy', async () => healthyOf(await service('bad')).length === 6, 60_000);
    await waitFor('the port answers', async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) })).ok, 20_000);
    const oldVersion = (await service('bad')).specVersion;
    const load = startLoad([`127.0.0.1:${port}`], { connections: 8, timeoutMs: 5000 });
    let fewest = 6;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        fewest = Math.min(fewest, healthyOf(await service('bad')).length);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const startedAt = Date.now();
    const res = await api(daemon.url).patch('/services/bad?wait=true&timeout=120', { command: BAD });
    sampling = false;
    await sampler;
    const result = await load.stop();
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'ROLLED_BACK');
    assert.deepEqual(res.body.command, GOOD, 'the old spec is back');
    assert.equal(res.body.specVersion, oldVersion);
    assert.equal(res.body.updateStatus.kind, 'rollback');
    assert.match(res.body.updateStatus.message, /update to version \d+ failed: \d of 6 new replicas failed.*container is unhealthy/);
    assert.ok(fewest >= 4, `healthy replicas fell to ${fewest}`);
    assert.deepEqual(result.failed.slice(0, 5), [], `${result.failed.length} of ${result.samples.length} requests failed`);
    assert.equal(healthyOf(res.body).length, 6);
    console.log(`# bad update rolled back in ${Date.now() - startedAt} ms; fewest healthy ${fewest}; ${result.ok} requests served`);
    await remove('bad');
  });

  test('a bad update with failureAction pause: PAUSED with the reason, the old replicas serving; with one replica too', async () => {
    for (const replicas of [4, 1]) {
      const name = `pause${replicas}`;
      await api(daemon.url).post('/services', { name, image: TEST_IMAGE, replicas, command: GOOD, healthcheck: CHECK, update: { parallelism: 1, monitor: '1s' } });
      await waitFor(`${replicas} healthy`, async () => healthyOf(await service(name)).length === replicas, 60_000);
      const res = await api(daemon.url).patch(`/services/${name}?wait=true&timeout=90`, { command: BAD });
      assert.equal(res.body.state, 'PAUSED', `${name}: ${JSON.stringify(res.body.updateStatus)}`);
      assert.match(res.body.updateStatus.message, /failed: 1 of \d new replicas failed/);
      // Paused stays paused: no further slot is touched.
      await new Promise((r) => setTimeout(r, 3000));
      const view = await service(name);
      assert.equal(view.state, 'PAUSED');
      const oldLive = view.tasks.filter((t: any) => t.desiredState === 'RUNNING' && t.version !== view.specVersion);
      assert.equal(oldLive.length, replicas - 1, `${name}: stop-first replaced one slot, the others still run the old spec`);
      await remove(name);
    }
  });

  test('service rollback after a good update returns to the old spec; history lists the versions', async () => {
    await api(daemon.url).post('/services?wait=true&timeout=60', { name: 'hist', image: TEST_IMAGE, replicas: 2, command: ['sleep', '3600'], update: { monitor: '0s' } });
    const first = await service('hist');
    const updated = await api(daemon.url).patch('/services/hist?wait=true&timeout=60', { command: ['sleep', '7200'] });
    assert.equal(updated.body.state, 'RUNNING');
    const history = (await api(daemon.url).get('/services/hist/history')).body.versions;
    assert.deepEqual(history.map((v: any) => [v.version, v.current, v.command]), [
      [updated.body.specVersion, true, ['sleep', '7200']],
      [first.specVersion, false, ['sleep', '3600']],
    ]);
    const back = await api(daemon.url).post('/services/hist/rollback?wait=true&timeout=60', {});
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.state, 'ROLLED_BACK');
    assert.deepEqual(back.body.command, ['sleep', '3600']);
    const running = (await clusterContainers(docker, cluster, { 'io.bicycle.service': 'hist' })).filter((c) => c.state === 'running');
    assert.equal(running.length, 2);
    for (const c of running) assert.deepEqual((await docker.getContainer(c.id).inspect()).Config.Cmd, ['sleep', '3600']);
    const none = await api(daemon.url).post('/services/hist/rollback', { version: 99 });
    assert.equal(none.status, 404);
    assert.equal(none.body.error.code, 'VERSION_NOT_FOUND');
    await remove('hist');
  });

  test('restart conditions as a user reads them: none, on-failure, maxAttempts', async () => {
    const exit = (code: number) => ['sh', '-c', `sleep 1; exit ${code}`];
    await api(daemon.url).post('/services', { name: 'once', image: TEST_IMAGE, replicas: 1, command: exit(1), restart: { condition: 'none' } });
    await api(daemon.url).post('/services', { name: 'done', image: TEST_IMAGE, replicas: 1, command: exit(0), restart: { condition: 'on-failure' } });
    await api(daemon.url).post('/services', { name: 'flaky', image: TEST_IMAGE, replicas: 1, command: exit(3), restart: { maxAttempts: 2, delay: '0s' } });
    const ended = (view: any) => view.tasks.filter((t: any) => ['FAILED', 'COMPLETE'].includes(t.state));
    await waitFor('once failed', async () => ended(await service('once')).length === 1, 30_000);
    await waitFor('done completed', async () => ended(await service('done')).some((t: any) => t.state === 'COMPLETE'), 30_000);
    await waitFor('flaky failed 3 times (the run and 2 restarts)', async () => ended(await service('flaky')).length === 3, 60_000);
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal((await service('once')).tasks.length, 1, 'condition none: not replaced');
    const done = await service('done');
    assert.deepEqual(done.tasks.map((t: any) => [t.state, t.exitCode]), [['COMPLETE', 0]], 'on-failure: an exit 0 is COMPLETE and stays');
    const flaky = await service('flaky');
    assert.equal(flaky.tasks.length, 3, 'maxAttempts 2: given up after the third failure');
    for (const name of ['once', 'done', 'flaky']) await remove(name);
  });

  test('a replica that never becomes healthy fails at the healthy deadline, with the reason', async () => {
    await api(daemon.url).post('/services', {
      name: 'slow', image: TEST_IMAGE, replicas: 1, command: GOOD,
      healthcheck: { test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: '1m', startPeriod: '1m' },
      update: { healthyDeadline: '3s' },
    });
    const failed = await waitFor('the deadline to fail the replica', async () => (await service('slow')).tasks.find((t: any) => t.state === 'FAILED'), 30_000);
    assert.equal(failed.error, 'did not become healthy within 3s (healthyDeadline)');
    await remove('slow');
  });
});
