import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { daemonPath } from '../helpers/daemon';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';
import { certificateInfo, createClusterCa, createNodeRequest, fingerprintOf, signNodeCertificate } from '../../daemon/tls/ca';
import { parseJoinToken, formatJoinToken } from '../../daemon/tls/join-token';

const LIFETIME_MS = 60_000;
const CLI = join(__dirname, '..', '..', 'cli', 'main.js');

/** A POST of Raft messages as a peer would send them, with the given client certificate (or none). */
async function postRaft(url: string, body: unknown, tls: { ca?: string; cert?: string; key?: string }): Promise<{ status: number; body: any } | { error: string }> {
  const agent = new Agent({ connect: { ca: tls.ca ? [tls.ca] : undefined, cert: tls.cert, key: tls.key } });
  try {
    const res = await undiciFetch(`${url}/cluster/raft`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), dispatcher: agent });
    return { status: res.status, body: await res.json().catch(() => undefined) };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { error: cause?.code ?? cause?.message ?? String(error) };
  } finally {
    await agent.close();
  }
}

describe('TLS and node identity on a lab of four hosts (three members, 60 s certificates)', () => {
  let lab: Lab;
  let ca: string;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-')), 4, { subnet: freeSubnet(), tls: true });
    // Every host's configuration: node certificates live 60 s, so they renew during the test.
    for (const host of lab.hosts) {
      mkdirSync(host.dir, { recursive: true });
      writeFileSync(join(host.dir, 'bicycle-config.json'), JSON.stringify({ tls: { nodeCertLifetimeMs: LIFETIME_MS, caLifetimeMs: 3_600_000 } }));
    }
    await lab.up(3);
    ca = readFileSync(lab.caFile, 'utf8');
  });
  after(async () => {
    await lab?.down();
  });

  test('the hosts serve HTTPS with node certificates of the cluster CA; a client without the CA refuses the server', async () => {
    // Their Raft batches go over the Raft stream, under mutual TLS as the rest (no host fell back to POSTs).
    for (let i = 1; i <= 3; i++) {
      assert.match(lab.output(i), /REST API listening/, 'the daemon\'s log is its output');
      assert.doesNotMatch(lab.output(i), /did not take the Raft stream/, `${lab.host(i).name} streams its Raft batches`);
    }
    for (const host of lab.hosts.slice(0, 3)) {
      assert.match(host.url, /^https:/);
      const nodes = (await api(host.url).get('/nodes')).body.nodes;
      assert.equal(nodes.length, 3);
      assert.ok(nodes.every((n: { status: string }) => n.status === 'READY'));
      const cert = readFileSync(join(lab.dataDir(host), 'node.crt'), 'utf8');
      const info = certificateInfo(cert);
      assert.equal(info.commonName, nodes.find((n: { name: string }) => n.name === host.name).id);
      assert.ok(info.notAfterMs - info.notBeforeMs <= LIFETIME_MS + 6_000);
    }
    const agent = new Agent();
    await assert.rejects(undiciFetch(`${lab.host(1).url}/healthz`, { dispatcher: agent }), (error: { cause?: { code?: string } }) => {
      assert.match(String(error.cause?.code), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
      return true;
    });
    await agent.close();
    // The join token carries the CA's fingerprint.
    assert.equal(parseJoinToken(await lab.joinToken()).caFingerprint, fingerprintOf(ca));
  });

  test('a peer presenting no certificate, or one of its own CA, is refused', async () => {
    const nodes = (await api(lab.host(1).url).get('/nodes')).body.nodes as Array<{ id: string; name: string }>;
    const two = nodes.find((n) => n.name === 'host-2')!;
    const heartbeat = [{ type: 'heartbeat', from: two.id, to: 'x', term: 1_000_000, commit: 0 }];
    const none = await postRaft(lab.host(1).url, heartbeat, { ca });
    assert.ok('status' in none, JSON.stringify(none));
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'UNAUTHENTICATED');
    assert.match(none.body.error.message, /need a node certificate signed by this cluster's CA/);

    // A certificate naming host-2, signed by a CA of its own making: dropped right after the handshake.
    const evil = await createClusterCa('evil', Date.now(), 3_600_000);
    const { keyPem, csrPem } = await createNodeRequest(two.id);
    const forged = await signNodeCertificate(evil, { csrPem, nodeId: two.id, address: lab.host(2).address }, Date.now(), 3_600_000);
    const selfMade = await postRaft(lab.host(1).url, heartbeat, { ca, cert: forged, key: keyPem });
    assert.ok('error' in selfMade, `a self-made certificate got an answer: ${JSON.stringify(selfMade)}`);
    // The log line is written by the monitoring thread, a moment after the connection is dropped.
    await waitFor('host-1 to log the refused client', () => /refused a TLS client whose certificate this cluster's CA did not sign/.test(lab.output(1)), 10_000, 100);
    // The term did not move: nothing reached Raft.
    const state = (await api(lab.host(1).url).get('/state')).body.cluster;
    assert.ok(state.term < 1_000_000, JSON.stringify(state));
  });

  test('service logs on one host read the replicas of every host over mutual TLS; a client without a node certificate cannot', async () => {
    const created = await api(lab.host(1).url).post('/services?wait=true&timeout=60', {
      name: 'hello', image: TEST_IMAGE, replicas: 3, command: ['sh', '-c', 'echo "hello from $(hostname)"; sleep 3600'],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const tasks = created.body.tasks as Array<{ name: string; node: string; containerId: string }>;
    assert.deepEqual(new Set(tasks.map((t) => t.node)), new Set(['host-1', 'host-2', 'host-3']), 'one replica per host');
    // Each host's replica, read through host-1: two of them over node-to-node mutual TLS.
    const records = await waitFor('a line of each replica through host-1', async () => {
      const res = await api(lab.host(1).url).get('/services/hello/logs?format=ndjson');
      const lines = String(res.body).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; node: string; text: string });
      const from = new Set(lines.filter((l) => l.type === 'line' && /^hello from /.test(l.text)).map((l) => l.node));
      return from.size === 3 ? lines : undefined;
    }, 20_000, 250);
    assert.ok(!records.some((r) => /no logs/.test(r.text ?? '')), JSON.stringify(records));
    // The node-to-node route itself: the CLI's kind of client (the CA, no certificate) is refused, naming what it lacks.
    const remote = tasks.find((t) => t.node === 'host-2')!;
    const agent = new Agent({ connect: { ca: [ca] } });
    try {
      const res = await undiciFetch(`${lab.host(2).url}/cluster/logs/${remote.containerId}`, { dispatcher: agent, headers: { authorization: '' } });
      assert.equal(res.status, 401);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /node certificate signed by this cluster's CA/);
    } finally {
      await agent.close();
    }
    assert.equal((await api(lab.host(1).url).delete('/services/hello?wait=true')).status < 300, true);
  });

  test('a join with a token of another CA fails, naming both fingerprints', async () => {
    const token = parseJoinToken(await lab.joinToken());
    const other = fingerprintOf((await createClusterCa('other', Date.now(), 3_600_000)).certPem);
    const wrong = formatJoinToken({ ...token, caFingerprint: other });
    const host = lab.host(4);
    const dataDir = join(host.dir, 'wrong-join');
    const result = await host.exec([process.execPath, daemonPath(), '--name', 'host-4', '--listen', host.address, '--data-dir', dataDir, '--docker-socket', host.socket, '--join', lab.host(1).address, '--token', wrong], 30_000);
    assert.notEqual(result.code, 0);
    assert.ok(
      result.stderr.includes(`the cluster at ${lab.host(1).address} presents CA ${fingerprintOf(ca)} but the join token expects ${other}`),
      result.stderr,
    );
    assert.equal((await api(lab.host(1).url).get('/nodes')).body.nodes.length, 3);
  });

  test('a worker holds no CA key; promoted to manager it receives the cluster\'s, demoted it deletes it', async () => {
    await lab.startDaemon(lab.host(4), { join: lab.host(1).address, token: await lab.joinToken() }, ['--role', 'worker']);
    await lab.settled(30_000, 4);
    const keyOf = (i: number) => join(lab.dataDir(lab.host(i)), 'ca.key');
    assert.equal(existsSync(keyOf(4)), false, 'a worker joins without the CA key');
    assert.ok(existsSync(join(lab.dataDir(lab.host(4)), 'ca.crt')), 'but trusts the CA');
    const promoted = await api(lab.host(1).url).post('/nodes/host-4/promote', {});
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    await waitFor('host-4 to receive the CA key', () => existsSync(keyOf(4)), 20_000, 250);
    assert.equal(readFileSync(keyOf(4), 'utf8'), readFileSync(keyOf(1), 'utf8'), 'the cluster\'s own key');
    assert.equal(statSync(keyOf(4)).mode & 0o777, 0o600);
    assert.match(lab.output(4), /promoted to manager: received the cluster CA key/);
    const demoted = await api(lab.host(1).url).post('/nodes/host-4/demote', {});
    assert.equal(demoted.status, 200, JSON.stringify(demoted.body));
    await waitFor('host-4 to delete its copy of the CA key', () => !existsSync(keyOf(4)), 20_000, 250);
    // Asked for by a client that is not a manager's certificate: refused.
    const agent = new Agent({ connect: { ca: [ca], cert: readFileSync(join(lab.dataDir(lab.host(4)), 'node.crt'), 'utf8'), key: readFileSync(join(lab.dataDir(lab.host(4)), 'node.key'), 'utf8') } });
    try {
      const res = await undiciFetch(`${lab.host(1).url}/cluster/voting`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'caKey', nodeId: 'ignored', forwarded: false }) });
      const body = (await res.json()) as { reply?: { ok: boolean; error?: { code: string; message: string } } };
      assert.equal(body.reply?.ok, false, JSON.stringify(body));
      assert.match(body.reply!.error!.message, /host-4 is a worker: the CA key is for managers only/);
    } finally {
      await agent.close();
    }
  });

  test('a removed node\'s certificate is refused: it can no longer send Raft messages', async () => {
    const nodes = (await api(lab.host(1).url).get('/nodes')).body.nodes as Array<{ id: string; name: string }>;
    const four = nodes.find((n) => n.name === 'host-4')!;
    const cert = readFileSync(join(lab.dataDir(lab.host(4)), 'node.crt'), 'utf8');
    const key = readFileSync(join(lab.dataDir(lab.host(4)), 'node.key'), 'utf8');
    const heartbeat = [{ type: 'heartbeat', from: four.id, to: nodes[0]!.id, term: 1, commit: 0 }];
    const before = await postRaft(lab.host(1).url, heartbeat, { ca, cert, key });
    assert.ok('status' in before && before.status === 204, `a member's certificate is accepted: ${JSON.stringify(before)}`);
    // A member may send only its own messages.
    const spoofed = await postRaft(lab.host(1).url, [{ ...heartbeat[0], from: nodes.find((n) => n.name === 'host-2')!.id }], { ca, cert, key });
    assert.ok('status' in spoofed && spoofed.status === 403, JSON.stringify(spoofed));

    await lab.stopDaemon(4);
    const removed = await api(lab.host(1).url).delete(`/nodes/${four.id}`);
    assert.ok(removed.status < 300, JSON.stringify(removed.body));
    for (const host of lab.hosts.slice(0, 3)) {
      await waitFor(`${host.name} to revoke host-4`, async () => {
        const answer = await postRaft(host.url, heartbeat, { ca, cert, key });
        return 'status' in answer && answer.status === 403 && /removed from this cluster: its certificate is revoked/.test(answer.body.error.message);
      }, 10_000);
    }
  });

  test('certificates renew while running; a node stopped past its certificate\'s life needs a fresh join token, and rejoins with one', async () => {
    const serialOf = (i: number) => certificateInfo(readFileSync(join(lab.dataDir(lab.host(i)), 'node.crt'), 'utf8')).serial;
    const first = [1, 2, 3].map(serialOf);
    await waitFor('every member to renew its certificate', () => [1, 2, 3].every((i, k) => serialOf(i) !== first[k]), LIFETIME_MS + 10_000, 500);
    for (const i of [1, 2, 3]) assert.match(lab.output(i), /renewed this node's certificate/);
    await lab.settled(15_000, 3);

    await lab.stopDaemon(3);
    const expiresAt = certificateInfo(readFileSync(join(lab.dataDir(lab.host(3)), 'node.crt'), 'utf8')).notAfterMs;
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 2000));

    // Without a token it says what to do, and does not start.
    const host = lab.host(3);
    const bare = await host.exec([process.execPath, daemonPath(), '--config', join(host.dir, 'bicycle-config.json'), '--name', 'host-3', '--listen', host.address, '--data-dir', lab.dataDir(host), '--docker-socket', host.socket], 30_000);
    assert.notEqual(bare.code, 0);
    assert.match(bare.stderr, /certificate expired at .* while it was off.*restart it with --join <a member's address> --token <a fresh token/);

    // A fresh token, rotated on host-1: the old one admits nobody from now on.
    const old = await lab.joinToken();
    const rotated = await lab.host(1).exec([process.execPath, CLI, '--host', `127.0.0.1:${lab.host(1).port}`, 'node', 'join-token', '--rotate', '--json'], 30_000);
    assert.equal(rotated.code, 0, rotated.stderr);
    const fresh = (JSON.parse(rotated.stdout) as { token: string }).token;
    assert.notEqual(fresh, old);
    assert.equal(parseJoinToken(fresh).caFingerprint, fingerprintOf(ca));
    assert.equal(await lab.joinToken(), fresh);
    const refused = await api(lab.host(1).url).post('/cluster/join', { token: old, node: { id: 'newcomer', name: 'newcomer', address: '10.99.0.9:7070', role: 'worker' } });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));

    // With it, host-3 comes back as itself (same id, its data kept) with a new certificate.
    const id = (await api(lab.host(1).url).get('/nodes')).body.nodes.find((n: { name: string }) => n.name === 'host-3').id;
    await lab.startDaemon(host, { join: lab.host(1).address, token: fresh });
    await lab.settled(30_000, 3);
    const renewed = certificateInfo(readFileSync(join(lab.dataDir(host), 'node.crt'), 'utf8'));
    assert.equal(renewed.commonName, id);
    assert.ok(renewed.notAfterMs > Date.now());
    assert.match(lab.output(3), /asking for a new one with the join token/);
    assert.equal((await api(lab.host(1).url).get('/nodes')).body.nodes.length, 3);
  });
});
