import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type Docker from 'dockerode';
import { freePort, startDaemon, removeDataDir, type TestDaemon } from '../helpers/daemon';
import { execIn, requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';
import { chainPrefix } from '../../daemon/traffic/rules';

const HTTPD = ['httpd', '-f', '-p', '80', '-h', '/www'];

async function get(url: string, timeoutMs = 2000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return res.text();
}

function natRules(): string {
  const out = spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`this test reads the kernel's rules and needs iptables-save: ${out.stderr}`);
  return out.stdout;
}

describe('published ports on one node (the traffic manager on the real engine)', () => {
  let daemon: TestDaemon;
  let docker: Docker;
  let port: number;

  before(async () => {
    docker = await requireDocker();
    daemon = await startDaemon({ name: 'node-1' });
    port = await freePort('0.0.0.0');
  });
  after(async () => {
    await daemon?.stop();
    removeDataDir(daemon.dataDir);
  });

  test('a published port answers, and its connections reach every replica', async () => {
    const res = await api(daemon.url).post('/services?wait=true&timeout=60', { name: 'web', image: TEST_IMAGE, replicas: 2, command: HTTPD, ports: [{ published: port, target: 80 }] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const hosts = new Set<string>();
    await waitFor('answers from both replicas', async () => {
      const body = await get(`http://127.0.0.1:${port}/cgi-bin/whoami`);
      hosts.add(/host=(\S+)/.exec(body)?.[1] ?? '');
      return hosts.size === 2;
    }, 20_000, 20);
    const containers = await docker.listContainers({ filters: { label: ['io.bicycle.service=web'] } });
    assert.deepEqual([...hosts].sort(), containers.map((c) => c.Id.slice(0, 12)).sort());
  });

  test('the kernel carries connections to local replicas: this node\'s chain sends the port to both containers', async () => {
    const nodeId = (await api(daemon.url).get('/state')).body.nodes[0].id;
    const prefix = chainPrefix(nodeId);
    await waitFor('the DNAT rules of the port', () => {
      const rules = natRules();
      return rules.includes(`-A ${prefix}-PRE -p tcp -m tcp --dport ${port} -j ${prefix}-S${port}`) && (rules.match(new RegExp(`-A ${prefix}-S${port} .*-j DNAT`, 'g')) ?? []).length === 2;
    }, 10_000);
  });

  test('a container of another service reaches the service by name, as web and web.bicycle', async () => {
    const res = await api(daemon.url).post('/services?wait=true&timeout=60', { name: 'client', image: TEST_IMAGE, replicas: 1, command: ['sleep', '3600'] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    for (const name of ['web', 'web.bicycle']) {
      const body = await waitFor(`${name}:${port} from a container`, async () => {
        const out = await execIn(docker, 'client', ['timeout', '5', 'wget', '-qO-', `http://${name}:${port}/cgi-bin/whoami`]);
        return out.includes('host=') ? out : undefined;
      }, 15_000, 200);
      assert.match(body, /^host=\S+ client=/);
    }
    const unknown = await execIn(docker, 'client', ['nslookup', 'nosuch.bicycle']);
    assert.match(unknown, /NXDOMAIN|can't find/i);
  });

  test('changing the published port moves the listener; removing the service closes it and its rules', async () => {
    const next = await freePort('0.0.0.0');
    const res = await api(daemon.url).patch('/services/web?wait=true&timeout=60', { ports: [{ published: next, target: 80 }] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor(`port ${next} to answer`, async () => (await get(`http://127.0.0.1:${next}/`)).includes('bicycle test page'), 10_000, 50);
    await waitFor(`port ${port} to close`, async () => !(await get(`http://127.0.0.1:${port}/`, 500).then(() => true, () => false)), 10_000, 50);

    const gone = await api(daemon.url).delete('/services/web?wait=true&timeout=60');
    assert.equal(gone.status, 200);
    await assert.rejects(get(`http://127.0.0.1:${next}/`, 1000));
    assert.doesNotMatch(natRules(), new RegExp(`--dport ${next} `));
    const removedAt = Date.now();
    await waitFor('the removed service\'s name to stop resolving', async () => /NXDOMAIN|can't find/i.test(await execIn(docker, 'client', ['nslookup', 'web.bicycle'])), 2000, 100);
    assert.ok(Date.now() - removedAt < 2000);
  });

  test('a port another program holds fails that node\'s replicas with the reason, and they start once it is free', async () => {
    const taken = await freePort('0.0.0.0');
    const sockets = new Set<import('node:net').Socket>();
    const squatter: Server = createServer((s) => {
      sockets.add(s);
      s.end('not bicycle\n');
    });
    await new Promise<void>((r) => squatter.listen(taken, '0.0.0.0', () => r()));
    try {
      const res = await api(daemon.url).post('/services', { name: 'clash', image: TEST_IMAGE, replicas: 1, command: HTTPD, ports: [{ published: taken, target: 80 }] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const failed = await waitFor('a FAILED replica with the reason', async () => {
        const service = (await api(daemon.url).get('/services/clash')).body;
        return service.tasks.find((t: any) => t.state === 'FAILED');
      }, 20_000, 100);
      assert.equal(failed.error, `published port ${taken} is in use on node node-1 by another program`);
      const state = (await api(daemon.url).get('/state')).body;
      const entry = state.services.find((s: any) => s.name === 'clash');
      assert.equal(entry.state, 'DEGRADED');
      assert.equal(entry.error, failed.error);
      assert.equal(await get(`http://127.0.0.1:${taken}/`).catch(() => 'not bicycle\n'), 'not bicycle\n', 'the other program keeps its port');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => squatter.close(() => r()));
    }
    await waitFor('the service to run once the port is free', async () => (await api(daemon.url).get('/services/clash')).body.state === 'RUNNING', 30_000, 200);
    await waitFor(`port ${taken} to answer`, async () => (await get(`http://127.0.0.1:${taken}/`)).includes('bicycle test page'), 10_000, 100);
    await api(daemon.url).delete('/services/clash?wait=true');
  });

  test('a host-mode port answers where a replica runs', async () => {
    const hostPort = await freePort('0.0.0.0');
    const res = await api(daemon.url).post('/services?wait=true&timeout=60', { name: 'edge', image: TEST_IMAGE, replicas: 1, command: HTTPD, ports: [{ published: hostPort, target: 80, mode: 'host' }] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    await waitFor(`port ${hostPort} to answer`, async () => (await get(`http://127.0.0.1:${hostPort}/`)).includes('bicycle test page'), 10_000, 50);
    await api(daemon.url).delete('/services/edge?wait=true');
  });

  test('a clean stop removes every rule of the node', async () => {
    const nodeId = (await api(daemon.url).get('/state')).body.nodes[0].id;
    await daemon.stop();
    assert.doesNotMatch(natRules(), new RegExp(chainPrefix(nodeId)));
    const filter = spawnSync('iptables-save', ['-t', 'filter'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(filter, new RegExp(chainPrefix(nodeId)));
  });
});
