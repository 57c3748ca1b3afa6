import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { freePort, startDaemon, type TestDaemon } from '../helpers/daemon';
import { clusterContainers, requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';

// Published ports as the REST API keeps them: what is stored, shown and
// refused. Not the data path (the traffic manager's tests carry it); the
// ports are free ones, since this daemon's traffic manager holds them.

const full = (published: number, target: number, more: Record<string, string> = {}) => ({
  published, target, protocol: 'tcp', mode: 'ingress', proxy: 'none', ...more,
});

describe('published ports through the REST API, against the real engine', () => {
  let docker: Docker;
  let daemon: TestDaemon;
  let cluster: string;
  /** Free ports, lowest first, so that the lists below are in the order the daemon answers. */
  let p: number[];

  const service = async (name: string) => (await api(daemon.url).get(`/services/${name}`)).body;
  const runningContainers = async (name: string) =>
    (await clusterContainers(docker, cluster, { 'io.bicycle.service': name })).filter((c) => c.state === 'running').map((c) => c.id).sort();

  before(async () => {
    docker = await requireDocker();
    daemon = await startDaemon();
    cluster = await daemon.clusterId();
    const ports = new Set<number>();
    while (ports.size < 5) ports.add(await freePort('0.0.0.0'));
    p = [...ports].sort((a, b) => a - b);
  });
  after(async () => {
    assert.equal(await daemon?.stop(), 0, 'bicycled exits 0 on SIGTERM');
  });

  test('a service created with ports shows them, defaults filled in and in order, in its answer, GET, the list and State', async () => {
    const res = await api(daemon.url).post('/services?wait=true&timeout=30', {
      name: 'web', image: TEST_IMAGE, replicas: 2, command: ['sleep', '3600'],
      ports: [{ published: p[1], target: 443, mode: 'host', proxy: 'v2' }, { published: p[0], target: 80 }],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const expected = [full(p[0]!, 80), full(p[1]!, 443, { mode: 'host', proxy: 'v2' })];
    assert.deepEqual(res.body.ports, expected);
    assert.equal(res.body.running, 2);
    assert.deepEqual((await service('web')).ports, expected);
    const listed = (await api(daemon.url).get('/services')).body.services.find((s: any) => s.name === 'web');
    assert.deepEqual(listed.ports, expected);
    const inState = (await api(daemon.url).get('/state')).body.services.find((s: any) => s.name === 'web');
    assert.deepEqual(inState.ports, expected);
  });

  test('a service created without ports shows an empty list', async () => {
    const res = await api(daemon.url).post('/services', { name: 'plain', image: TEST_IMAGE, replicas: 0 });
    assert.equal(res.status, 201);
    assert.deepEqual(res.body.ports, []);
    assert.deepEqual((await api(daemon.url).get('/state')).body.services.find((s: any) => s.name === 'plain').ports, []);
  });

  test('PATCH ports adds, changes and removes them; version moves, specVersion and the containers stay', async () => {
    const before = await service('web');
    const containers = await runningContainers('web');
    assert.equal(containers.length, 2);

    const added = await api(daemon.url).patch('/services/web?wait=true&timeout=30', {
      ports: [...before.ports, { published: p[2], target: 8080, proxy: 'v1' }],
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.deepEqual(added.body.ports, [...before.ports, full(p[2]!, 8080, { proxy: 'v1' })]);
    assert.equal(added.body.version, before.version + 1);
    assert.equal(added.body.specVersion, before.specVersion);

    const changed = await api(daemon.url).patch('/services/web?wait=true&timeout=30', { ports: [{ published: p[0], target: 8081 }] });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.deepEqual(changed.body.ports, [full(p[0]!, 8081)], 'the list is replaced whole');
    assert.equal(changed.body.version, before.version + 2);
    assert.equal(changed.body.specVersion, before.specVersion);
    assert.deepEqual((await api(daemon.url).get('/state')).body.services.find((s: any) => s.name === 'web').ports, [full(p[0]!, 8081)]);

    const removed = await api(daemon.url).patch('/services/web?wait=true&timeout=30', { ports: [] });
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.body.ports, []);
    assert.equal(removed.body.version, before.version + 3);
    assert.equal(removed.body.specVersion, before.specVersion);
    assert.equal(removed.body.state, 'RUNNING');

    assert.deepEqual(await runningContainers('web'), containers, 'no container was replaced for a port change');
    const same = await api(daemon.url).patch('/services/web', { ports: [] });
    assert.equal(same.body.version, before.version + 3, 'the same ports again change nothing');

    const back = await api(daemon.url).patch('/services/web?wait=true&timeout=30', { ports: [{ published: p[0], target: 80 }] });
    assert.deepEqual(back.body.ports, [full(p[0]!, 80)]);
  });

  test('a port another service publishes is refused 409 PORT_IN_USE naming both, and the request stores nothing', async () => {
    const taken = await api(daemon.url).post('/services', { name: 'api', image: TEST_IMAGE, replicas: 0, ports: [{ published: p[3], target: 80 }, { published: p[0], target: 3000 }] });
    assert.equal(taken.status, 409, JSON.stringify(taken.body));
    assert.deepEqual(taken.body.error, { code: 'PORT_IN_USE', message: `published port ${p[0]} is already used by service web (asked for by service api)` });
    assert.equal((await api(daemon.url).get('/services/api')).status, 404, 'the refused service was not created');

    const created = await api(daemon.url).post('/services', { name: 'api', image: TEST_IMAGE, replicas: 0, ports: [{ published: p[3], target: 80 }] });
    assert.equal(created.status, 201);
    const update = await api(daemon.url).patch('/services/api', { ports: [{ published: p[3], target: 80 }, { published: p[0], target: 80, mode: 'host' }] });
    assert.equal(update.status, 409);
    assert.deepEqual(update.body.error, { code: 'PORT_IN_USE', message: `published port ${p[0]} is already used by service web (asked for by service api)` });
    const after = await service('api');
    assert.deepEqual(after.ports, [full(p[3]!, 80)]);
    assert.equal(after.version, created.body.version);
  });

  test('bad ports are refused 400 naming the field, and nothing is stored', async () => {
    const cases: Array<[unknown, string]> = [
      [[{ published: 0, target: 80 }], 'ports.0.published: must be a whole number from 1 to 65535'],
      [[{ published: p[4], target: 80 }, { published: p[4], target: 70000 }], 'ports.1.target: must be a whole number from 1 to 65535'],
      [[{ published: p[4], target: 80 }, { published: p[4], target: 81 }], `ports.1.published: port ${p[4]} is already published by ports.0`],
      [[{ published: p[4], target: 53, protocol: 'udp' }], 'ports.0.protocol: must be "tcp" (udp is not supported)'],
      [[{ published: p[4], target: 80, mode: 'global' }], 'ports.0.mode: must be "ingress" or "host"'],
      [[{ published: p[4], target: 80, proxy: 'v3' }], 'ports.0.proxy: must be "none", "v1" or "v2"'],
      [[{ target: 80 }], 'ports.0.published: is required'],
      [[{ published: p[4], target: 80, hostIp: '0.0.0.0' }], 'unknown field "hostIp" in ports.0'],
      ['8080:80', 'ports: must be an array of ports, e.g. [{"published": 8080, "target": 80}]'],
    ];
    for (const [ports, message] of cases) {
      const res = await api(daemon.url).post('/services', { name: 'bad', image: TEST_IMAGE, replicas: 0, ports });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.deepEqual(res.body.error, { code: 'INVALID_ARGUMENT', message });
      const patched = await api(daemon.url).patch('/services/api', { ports });
      assert.equal(patched.status, 400, JSON.stringify(patched.body));
      assert.equal(patched.body.error.message, message);
    }
    assert.equal((await api(daemon.url).get('/services/bad')).status, 404);
    assert.deepEqual((await service('api')).ports, [full(p[3]!, 80)]);
  });

  test('once a service is gone its ports are free for another', async () => {
    const deleted = await api(daemon.url).delete('/services/api?wait=true&timeout=30');
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    const res = await api(daemon.url).post('/services', { name: 'api2', image: TEST_IMAGE, replicas: 0, ports: [{ published: p[3], target: 80 }] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body.ports, [full(p[3]!, 80)]);
  });
});
