import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { getOnce, startLoad, type LoadResult } from '../../scripts/lab/http-load';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

// Published ports on three hosts of the lab, each its own namespace and
// engine, reached from this machine's leg (the client) over the lab bridge.

const HTTPD = ['httpd', '-f', '-p', '80', '-h', '/www'];
const WHOAMI = '/cgi-bin/whoami';

/** The container host names (short ids) of a service's running replicas, per lab host. */
async function replicasByHost(lab: Lab, service: string): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const host of lab.hosts) {
    const list = await host.docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } });
    out.set(host.index, list.map((c) => c.Id.slice(0, 12)));
  }
  return out;
}

function refusedOrFails(target: string): Promise<boolean> {
  return getOnce(target, '/', 1500).then(() => false, () => true);
}

/** A summary a failing assertion can print: the failures with their times relative to `t0`. */
function describeFailures(result: LoadResult, t0: number): string {
  return JSON.stringify(result.failed.slice(0, 10).map((f) => ({ target: f.target, at: f.startedAt - t0, error: f.error })));
}

describe('published ports on three hosts', () => {
  let lab: Lab;
  const web = (i: number) => `${lab.host(i).ip}:8080`;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-traffic-')), 3, { subnet: freeSubnet() });
    await lab.up();
  });
  after(async () => {
    await lab?.down();
  });

  test('ingress: every host answers on 8080 and connections reach every replica; after a scale to 1, hosts without a replica still answer', async () => {
    const res = await api(lab.host(1).url).post('/services?wait=true&timeout=60', { name: 'web', image: TEST_IMAGE, replicas: 3, command: HTTPD, ports: [{ published: 8080, target: 80 }] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const byHost = await replicasByHost(lab, 'web');
    assert.deepEqual([...byHost.values()].map((l) => l.length), [1, 1, 1]);
    const all = [...byHost.values()].flat().sort();
    for (const i of [1, 2, 3]) {
      const seen = new Set<string>();
      await waitFor(`host-${i}:8080 to lead to all three replicas`, async () => {
        seen.add(/host=(\S+)/.exec(await getOnce(web(i), WHOAMI))?.[1] ?? '');
        return seen.size === 3;
      }, 20_000, 0);
      assert.deepEqual([...seen].sort(), all);
    }

    const scaled = await api(lab.host(1).url).patch('/services/web?wait=true&timeout=60', { replicas: 1 });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    const left = [...(await replicasByHost(lab, 'web')).values()].flat();
    assert.equal(left.length, 1);
    for (const i of [1, 2, 3]) {
      const body = await waitFor(`host-${i}:8080 after the scale`, async () => {
        const text = await getOnce(web(i), WHOAMI);
        return text.includes(`host=${left[0]}`) ? text : undefined;
      }, 10_000, 50);
      assert.match(body, /^host=/);
    }
  });

  test('host mode: only the host that runs the replica answers', async () => {
    const res = await api(lab.host(1).url).post('/services?wait=true&timeout=60', { name: 'edge', image: TEST_IMAGE, replicas: 1, command: HTTPD, ports: [{ published: 8081, target: 80, mode: 'host' }] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const where = [...(await replicasByHost(lab, 'edge')).entries()].find(([, l]) => l.length > 0)![0];
    await waitFor(`host-${where}:8081 to answer`, async () => (await getOnce(`${lab.host(where).ip}:8081`)).includes('bicycle test page'), 10_000, 50);
    for (const i of [1, 2, 3].filter((i) => i !== where)) assert.ok(await refusedOrFails(`${lab.host(i).ip}:8081`), `host-${i} has no replica and must not answer`);
    await api(lab.host(1).url).delete('/services/edge?wait=true');
  });

  test('the application sees the client\'s own address on the local path', async () => {
    const where = [...(await replicasByHost(lab, 'web')).entries()].find(([, l]) => l.length > 0)![0];
    const body = await getOnce(web(where), WHOAMI);
    assert.match(body, new RegExp(`client=\\[?(::ffff:)?${lab.clientAddress.replace(/\./g, '\\.')}\\]?$`, 'm'), body);
  });

  test('with the PROXY protocol (v1 and v2) the application learns the client\'s address on the remote path too', async () => {
    for (const [version, port] of [['v1', 8082], ['v2', 8083]] as const) {
      const name = `proxy-${version}`;
      const res = await api(lab.host(1).url).post('/services?wait=true&timeout=60', { name, image: TEST_IMAGE, replicas: 1, command: ['nc', '-ll', '-p', '80', '-e', 'proxy-echo'], ports: [{ published: port, target: 80, proxy: version }] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const where = [...(await replicasByHost(lab, name)).entries()].find(([, l]) => l.length > 0)![0];
      const other = [1, 2, 3].find((i) => i !== where)!;
      const body = await waitFor(`${name} through host-${other}`, async () => {
        const text = await getOnce(`${lab.host(other).ip}:${port}`);
        return text.includes('first=') ? text : undefined;
      }, 15_000, 100);
      const first = Buffer.from(/first=([0-9a-f]+)/.exec(body)![1]!, 'hex');
      const client = lab.clientAddress.split('.').map(Number);
      if (version === 'v1') {
        assert.equal(first.toString('latin1'), `PROXY TCP4 ${lab.clientAddress} ${lab.host(other).ip} `.slice(0, 28));
      } else {
        assert.equal(first.subarray(0, 12).toString('hex'), '0d0a0d0a000d0a515549540a');
        assert.deepEqual([...first.subarray(16, 20)], client, 'the source address is the client\'s');
        assert.equal(first.readUInt16BE(26), port);
      }
      await api(lab.host(1).url).delete(`/services/${name}?wait=true`);
    }
  });

  test('a container of another service reaches the service by name from every host', async () => {
    await api(lab.host(1).url).patch('/services/web?wait=true&timeout=60', { replicas: 3 });
    const res = await api(lab.host(1).url).post('/services?wait=true&timeout=60', { name: 'client', image: TEST_IMAGE, replicas: 3, command: ['sleep', '3600'] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    for (const host of lab.hosts) {
      const [container] = await host.docker.listContainers({ filters: { label: ['io.bicycle.service=client'], status: ['running'] } });
      assert.ok(container, `${host.name} runs a client replica`);
      const out = await waitFor(`web:8080 from a container on ${host.name}`, async () => {
        const exec = await host.docker.getContainer(container.Id).exec({ Cmd: ['timeout', '5', 'wget', '-qO-', `http://web:8080${WHOAMI}`], AttachStdout: true });
        const stream = await exec.start({});
        const text = await new Promise<string>((resolve) => {
          let data = '';
          stream.on('data', (d: Buffer) => (data += d.toString('latin1')));
          stream.on('end', () => resolve(data));
        });
        return text.includes('host=') ? text : undefined;
      }, 15_000, 200);
      assert.match(out, /host=\S+/);
    }
    await api(lab.host(1).url).delete('/services/client?wait=true');
  });

  test('no request is lost while every replica is updated, while a host is drained, while it is activated and rebalanced, and while a bad update is rolled back', async (t) => {
    const targets = [web(1), web(2), web(3)];
    const phases: Array<[string, () => Promise<void>]> = [
      ['update', async () => {
        const res = await api(lab.host(1).url).patch('/services/web?wait=true&timeout=60', { env: { ROUND: '2' } });
        assert.equal(res.status, 200, JSON.stringify(res.body));
      }],
      ['drain', async () => {
        const node = (await api(lab.host(1).url).get('/nodes')).body.nodes.find((n: any) => n.name === 'host-3');
        await api(lab.host(1).url).patch(`/nodes/${node.id}`, { availability: 'drain' });
        await waitFor('host-3 to run no replica of web', async () => ((await replicasByHost(lab, 'web')).get(3) ?? []).length === 0, 30_000, 100);
        await waitFor('web to run 3 replicas', async () => (await api(lab.host(1).url).get('/services/web')).body.state === 'RUNNING', 30_000, 100);
      }],
      ['activate and rebalance', async () => {
        const node = (await api(lab.host(1).url).get('/nodes')).body.nodes.find((n: any) => n.name === 'host-3');
        await api(lab.host(1).url).patch(`/nodes/${node.id}`, { availability: 'active' });
        await api(lab.host(1).url).post('/services/web/rebalance');
        await waitFor('web to spread 1/1/1 again', async () => [...(await replicasByHost(lab, 'web')).values()].every((l) => l.length === 1), 30_000, 100);
        await waitFor('the rebalance to finish', async () => {
          const s = (await api(lab.host(1).url).get('/services/web')).body;
          return s.state === 'RUNNING' && !s.rebalancing;
        }, 30_000, 100);
      }],
      ['a bad update, rolled back', async () => {
        // A health check that never passes, start-first: the new replicas never serve and the old ones never stop.
        const res = await api(lab.host(1).url).patch('/services/web?wait=true&timeout=90', {
          healthcheck: { test: ['CMD-SHELL', 'exit 1'], interval: '500ms', retries: 2 },
          update: { order: 'start-first', failureAction: 'rollback', monitor: '1s' },
        });
        assert.equal(res.body.state, 'ROLLED_BACK', JSON.stringify(res.body.updateStatus));
        assert.equal(res.body.healthcheck, null, 'the old spec, with the image\'s own check (none), is back');
      }],
    ];
    for (const [phase, act] of phases) {
      const t0 = Date.now();
      const load = startLoad(targets, { connections: 8, path: '/' });
      await new Promise((r) => setTimeout(r, 300));
      await act();
      // The replicas stopped last get their deregistration delay and grace: keep the load on through them.
      await new Promise((r) => setTimeout(r, 3500));
      const result = await load.stop();
      t.diagnostic(`${phase}: ${result.ok} requests ok, ${result.failed.length} failed, in ${Date.now() - t0} ms`);
      assert.ok(result.ok > 100, `${phase}: the loop made ${result.ok} requests`);
      assert.equal(result.failed.length, 0, `${phase}: ${result.failed.length} of ${result.samples.length} requests failed: ${describeFailures(result, t0)}`);
    }
  });

  test('a port that another program holds on one host fails that host\'s replicas with the reason; removing the service frees the port on every host', async () => {
    const squatter: ChildProcess = lab.host(2).spawn(['busybox', 'nc', '-ll', '-p', '8090', '-e', 'cat'], { stdio: 'ignore' });
    try {
      await waitFor('the other program to listen on host-2', () => lab.host(2).reaches(`${lab.host(2).ip}:8090`), 10_000, 100);
      const res = await api(lab.host(1).url).post('/services', { name: 'clash', image: TEST_IMAGE, replicas: 3, command: HTTPD, ports: [{ published: 8090, target: 80 }] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const failed = await waitFor('host-2\'s replica to fail with the reason', async () => {
        const service = (await api(lab.host(1).url).get('/services/clash')).body;
        return service.tasks.find((t: any) => t.state === 'FAILED' && t.node === 'host-2');
      }, 30_000, 100);
      assert.equal(failed.error, 'published port 8090 is in use on node host-2 by another program');
      await waitFor('State on host-3 to show clash DEGRADED with the reason', async () => {
        const entry = (await api(lab.host(3).url).get('/state')).body.services.find((s: any) => s.name === 'clash');
        return entry.state === 'DEGRADED' && entry.error === failed.error;
      }, 10_000, 100);
      await waitFor('host-1 and host-3 to serve 8090', async () => (await getOnce(`${lab.host(1).ip}:8090`)).includes('bicycle test page') && (await getOnce(`${lab.host(3).ip}:8090`)).includes('bicycle test page'), 15_000, 100);

      const gone = await api(lab.host(1).url).delete('/services/clash?wait=true&timeout=60');
      assert.equal(gone.status, 200);
      for (const i of [1, 3]) assert.ok(await refusedOrFails(`${lab.host(i).ip}:8090`), `host-${i} closed 8090`);
      assert.ok(await lab.host(2).reaches(`${lab.host(2).ip}:8090`), 'the other program still has its port on host-2');
    } finally {
      squatter.kill('SIGKILL');
    }
  });

  test('a killed host: only connections open to it fail, and none from a second after the kill', async (t) => {
    const byHost = await replicasByHost(lab, 'web');
    assert.equal(byHost.get(3)?.length, 1, 'host-3 runs a replica');
    const load = startLoad([web(1), web(2)], { connections: 8, path: '/' });
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    await lab.kill(3);
    await new Promise((r) => setTimeout(r, 3000));
    const result = await load.stop();
    const late = result.failed.filter((f) => f.startedAt > killedAt + 1000);
    assert.equal(late.length, 0, `failed after the first second: ${describeFailures({ ...result, failed: late }, killedAt)}`);
    const early = result.failed.filter((f) => f.startedAt <= killedAt + 1000);
    t.diagnostic(`kill: ${result.ok} requests ok, ${early.length} failed in the first second, ${late.length} after`);
    assert.ok(early.length <= 8, `at most the connections open at the kill fail: ${describeFailures({ ...result, failed: early }, killedAt)}`);
    assert.ok(result.ok > 100);
  });
});
