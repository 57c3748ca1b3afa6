import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { freePort, removeDataDir, startDaemon, type TestDaemon } from '../helpers/daemon';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { hasImage, pushImage, removeImage, startRegistry, type TestRegistry } from '../../scripts/lab/registry';
import { waitFor } from '../helpers/wait';

// Pre-pull against a real registry (Debian's docker-registry on loopback,
// which the engine trusts without TLS): the image is on the node before any
// replica needs it, and a pull that fails is shown per image in State.

interface PrepullView { service: string; image: string; state: string; error: string | null }

async function prepullOf(url: string): Promise<PrepullView[]> {
  const nodes = (await api(url).get('/state')).body.nodes as Array<{ prepull: PrepullView[] | null }>;
  return nodes[0]!.prepull ?? [];
}

describe('pre-pull from a real registry', () => {
  let docker: Docker;
  let registry: TestRegistry | undefined;
  let host: string;
  let daemon: TestDaemon;

  before(async () => {
    docker = await requireDocker();
    registry = await startRegistry(`127.0.0.1:${await freePort()}`);
    host = registry.address;
    await pushImage(docker, TEST_IMAGE, `${host}/bicycle/prepull:1`);
    await pushImage(docker, TEST_IMAGE, `${host}/bicycle/prepull:2`);
    daemon = await startDaemon({ config: { deployment: { prepull: true } } });
  });
  after(async () => {
    await daemon?.stop();
    registry?.stop();
    if (host) for (const tag of ['1', '2']) await removeImage(docker, `${host}/bicycle/prepull:${tag}`);
    if (daemon) removeDataDir(daemon.dataDir);
  });

  test('a service with no replica yet has its image pulled onto the node, shown done in State', async () => {
    const image = `${host}/bicycle/prepull:1`;
    assert.equal(await hasImage(docker, image), false, 'the image is only in the registry at first');
    const res = await api(daemon.url).post('/services', { name: 'later', image, replicas: 0, command: ['sleep', '3600'] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.prepull, true, 'the cluster default is in effect');
    await waitFor('the pre-pull to be done', async () => (await prepullOf(daemon.url)).some((p) => p.service === 'later' && p.image === image && p.state === 'done'), 30_000, 200);
    assert.equal(await hasImage(docker, image), true, 'the engine has the image');
  });

  test('an image change pulls the new image ahead, while no replica needs it yet', async () => {
    const image = `${host}/bicycle/prepull:2`;
    const res = await api(daemon.url).patch('/services/later', { image });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // The pull's outcome is proposed once the engine has the image: State says done a moment after the image is there.
    const status = await waitFor('the new image pulled, as State says', async () => {
      const later = (await prepullOf(daemon.url)).filter((p) => p.service === 'later');
      return later.some((p) => p.image === image && p.state === 'done') ? later : undefined;
    }, 30_000, 200);
    assert.deepEqual(status.map((p) => [p.image, p.state]), [[image, 'done']]);
    assert.equal(await hasImage(docker, image), true);
  });

  test('a scale-up from 0 starts on the pulled image; a service opting out is not pulled', async () => {
    const scaled = await api(daemon.url).patch('/services/later?wait=true&timeout=30', { replicas: 1 });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    assert.equal(scaled.body.tasks.filter((t: { state: string }) => t.state === 'RUNNING').length, 1);

    const optedOut = `${host}/bicycle/prepull:1`;
    await removeImage(docker, optedOut);
    const res = await api(daemon.url).post('/services', { name: 'no-prepull', image: optedOut, replicas: 0, prepull: false });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    // Give the deployment thread passes to (wrongly) pull it: three resyncs.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    assert.equal(await hasImage(docker, optedOut), false);
    assert.equal((await prepullOf(daemon.url)).some((p) => p.service === 'no-prepull'), false);
  });

  test('an image the registry does not have fails with the engine\'s reason in State, and nothing else is disturbed', async () => {
    const missing = `${host}/bicycle/prepull:nosuch`;
    const res = await api(daemon.url).post('/services', { name: 'missing', image: missing, replicas: 0 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const failed = await waitFor('the failed pull in State', async () => (await prepullOf(daemon.url)).find((p) => p.service === 'missing' && p.state === 'failed'), 30_000, 200);
    assert.match(failed.error ?? '', /not found|unknown|manifest/i, failed.error ?? '');
    assert.equal((await api(daemon.url).get('/services/later')).body.tasks.filter((t: { state: string }) => t.state === 'RUNNING').length, 1);
  });
});
