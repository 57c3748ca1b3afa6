import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { daemonPath, removeDataDir, startDaemon, type TestDaemon } from '../helpers/daemon';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';
import { memoryStoreDir } from '../../daemon/memory-store';

// --store memory on a real daemon and engine: what lands on disk, what a
// restart keeps (nothing: a new node), and what becomes of its containers.

interface Health { nodeId: string; store: string }

async function health(url: string): Promise<Health> {
  return (await api(url).get('/healthz')).body as Health;
}

/** The containers of node `nodeId` on the engine, running or not. */
async function containersOf(docker: Docker, nodeId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`io.bicycle.node=${nodeId}`] } });
}

async function runService(url: string, name: string, replicas: number): Promise<void> {
  const res = await api(url).post('/services?wait=true&timeout=60', { name, image: TEST_IMAGE, replicas, command: ['sleep', '3600'] });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.state, 'RUNNING', JSON.stringify(res.body));
}

describe('bicycled --store', () => {
  test('a value other than memory or persisted is refused with exit 2, naming the option and the values', () => {
    const result = spawnSync(process.execPath, [daemonPath(), '--store', 'ram'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /invalid configuration: store: must be memory or persisted/);
  });
});

describe('a daemon with --store memory', () => {
  let docker: Docker;
  let daemon: TestDaemon;
  let firstId: string;

  before(async () => {
    docker = await requireDocker();
    daemon = await startDaemon({ name: 'throwaway', env: { BICYCLE_STORE: 'memory' } });
    firstId = (await health(daemon.url)).nodeId;
  });
  after(async () => {
    await daemon?.stop();
    removeDataDir(daemon.dataDir);
  });

  test('says so, runs a service, and writes nothing of its state to the data directory', async () => {
    assert.deepEqual(await health(daemon.url), { status: 'ok', leader: 'throwaway', leaderId: firstId, nodeId: firstId, store: 'memory' });
    assert.match(daemon.output(), /bicycled is up .*store=memory/);
    await runService(daemon.url, 'scratch', 2);
    const running = await containersOf(docker, firstId);
    assert.equal(running.filter((c) => c.State === 'running').length, 2);
    // Only the test's own config file: no bicycle.db, no -wal or -shm, no TLS files, no log.
    assert.deepEqual(readdirSync(daemon.dataDir), ['test-config.json']);
    const ram = memoryStoreDir(daemon.dataDir);
    for (const file of ['bicycle.db', 'bicycle.db-wal', 'bicycle.db-shm', 'bicycled.log']) assert.ok(existsSync(join(ram, file)), `${file} in ${ram}`);
  });

  test('killed and started again, it is a new node with none of the services of before, and the old containers are gone', async () => {
    await daemon.kill();
    daemon = await daemon.restart();
    const second = await health(daemon.url);
    assert.equal(second.store, 'memory');
    assert.notEqual(second.nodeId, firstId, 'a new node id');
    assert.deepEqual((await api(daemon.url).get('/services')).body.services, []);
    assert.equal((await api(daemon.url).get('/state')).body.nodes.length, 1, 'a cluster of one: the new node alone');
    // Removed by the next start once its threads are up (its API may answer a moment before).
    await waitFor('the killed node\'s containers removed', async () => (await containersOf(docker, firstId)).length === 0, 20_000);
    await waitFor('the removal in the log', () => /removed the containers of the memory node this data directory ran before/.test(daemon.output()), 5000);
    assert.deepEqual(readdirSync(daemon.dataDir), ['test-config.json']);
  });

  test('stopped (SIGTERM), it removes its containers and its RAM directory', async () => {
    const { nodeId } = await health(daemon.url);
    await runService(daemon.url, 'brief', 1);
    assert.equal((await containersOf(docker, nodeId)).length, 1);
    assert.equal(await daemon.stop({ keepContainers: true }), 0);
    assert.deepEqual(await containersOf(docker, nodeId), []);
    assert.equal(existsSync(memoryStoreDir(daemon.dataDir)), false);
    assert.deepEqual(readdirSync(daemon.dataDir), ['test-config.json']);
  });
});

describe('a daemon with the default store (persisted)', () => {
  let daemon: TestDaemon;
  after(async () => {
    await daemon?.stop();
    removeDataDir(daemon.dataDir);
  });

  test('keeps its database in the data directory and its node id across a restart', async () => {
    daemon = await startDaemon({ name: 'keeper' });
    const before = await health(daemon.url);
    assert.equal(before.store, 'persisted');
    assert.ok(existsSync(join(daemon.dataDir, 'bicycle.db')));
    assert.equal(await daemon.stop(), 0);
    daemon = await daemon.restart();
    assert.equal((await health(daemon.url)).nodeId, before.nodeId);
  });
});
