import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { daemonPath } from '../helpers/daemon';
import { requireDocker } from '../helpers/docker';
import { api, call } from '../helpers/api';

interface Cluster {
  leader: string | null;
  term: number;
}

async function clusterOf(url: string): Promise<Cluster> {
  return (await api(url).get('/state')).body.cluster as Cluster;
}

describe('guarded admission on a lab of three hosts', () => {
  let lab: Lab;

  before(async () => {
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-')), 3, { subnet: freeSubnet() });
    await lab.up(); // reads the join token on host-1's loopback, as an administrator would
  });
  after(async () => {
    await lab?.down();
  });

  test('the join token: refused without a token and to a read token off the loopback; an admin token, or the host\'s own loopback, reads it', async () => {
    const read = await call(lab.host(1).url, 'POST', '/tokens', { name: 'reader', role: 'read' });
    assert.equal(read.status, 201, JSON.stringify(read.body));
    for (const host of lab.hosts) {
      const anonymous = await call(host.url, 'GET', '/cluster/join-token', undefined, { authorization: '' });
      assert.equal(anonymous.status, 401, host.name);
      assert.equal(anonymous.body.error.code, 'UNAUTHENTICATED');
      const reader = await call(host.url, 'GET', '/cluster/join-token', undefined, { authorization: `Bearer ${read.body.token}` });
      assert.equal(reader.status, 403, host.name);
      assert.equal(reader.body.error.code, 'PERMISSION_DENIED');
      // The lab's client carries the cluster's admin token.
      const admin = await call(host.url, 'GET', '/cluster/join-token');
      assert.equal(admin.status, 200, `${host.name}: ${JSON.stringify(admin.body)}`);
      assert.match(admin.body.token, /^BCT2-/);
    }
    assert.match(await lab.joinToken(), /^BCT2-[0-9a-f]+-[0-9a-f]{64}-/);
  });

  test('a join with a member\'s id, name or address is refused NODE_EXISTS, and the members are unchanged', async () => {
    const token = await lab.joinToken();
    const before = (await api(lab.host(1).url).get('/nodes')).body.nodes;
    const two = before.find((n: any) => n.name === 'host-2');
    const tries = [
      [{ id: two.id, name: two.name, address: '10.99.0.9:7070' }, /node id .* is already member host-2/],
      [{ id: 'made-up', name: 'host-2', address: '10.99.0.9:7070' }, /a node named host-2 is already a member/],
      [{ id: 'made-up', name: 'made-up', address: two.address }, /is already member host-2's/],
    ] as const;
    for (const [node, message] of tries) {
      const res = await call(lab.host(3).url, 'POST', '/cluster/join', { token, node: { ...node, role: 'manager' } });
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'NODE_EXISTS');
      assert.match(res.body.error.message, message);
    }
    const afterwards = (await api(lab.host(1).url).get('/nodes')).body.nodes;
    assert.deepEqual(afterwards.map((n: any) => [n.id, n.name, n.address]), before.map((n: any) => [n.id, n.name, n.address]));

    // A daemon that tries it exits 1 saying so (--insecure, as the lab's hosts run: plain HTTP off loopback).
    const one = lab.host(1);
    const dataDir = mkdtempSync(join(tmpdir(), 'bicycle-impostor-'));
    const impostor = await one.exec(
      [process.execPath, daemonPath(), '--name', 'host-2', '--listen', `${one.ip}:${one.port + 1}`, '--data-dir', dataDir, '--docker-socket', one.socket, '--join', one.address, '--token', token, '--insecure'],
      30_000,
    );
    assert.equal(impostor.code, 1, impostor.stderr);
    assert.match(impostor.stderr, /a node named host-2 is already a member/);
  });

  test('a made-up node with the cluster secret sends RequestVote, PreVote and appends with ever higher terms: the leader and term stay', async () => {
    const db = new Database(join(lab.dataDir(lab.host(1)), 'bicycle.db'), { readonly: true, fileMustExist: true });
    const secret = (db.prepare("SELECT value FROM meta WHERE key = 'cluster_secret'").get() as { value: string }).value;
    db.close();
    const start = await clusterOf(lab.host(1).url);
    assert.ok(start.leader);
    const nodes = (await api(lab.host(1).url).get('/nodes')).body.nodes as Array<{ id: string; name: string }>;
    const deadline = Date.now() + 10_000;
    let term = start.term + 1;
    let refused = 0;
    while (Date.now() < deadline) {
      for (const [i, host] of lab.hosts.entries()) {
        const to = nodes.find((n) => n.name === host.name)!.id;
        const messages = [
          { type: 'preVote', from: 'intruder', to, term, lastIndex: 1e9, lastTerm: term, transfer: false },
          { type: 'vote', from: 'intruder', to, term, lastIndex: 1e9, lastTerm: term, transfer: true },
          { type: 'append', from: 'intruder', to, term, prevIndex: 1, prevTerm: 1, entries: [], commit: 1 },
          { type: 'heartbeat', from: 'intruder', to, term, commit: 1, context: '' },
          { type: 'appendResp', from: 'intruder', to, term, reject: false, index: 0, hintIndex: 0, hintTerm: 0 },
          { type: 'timeoutNow', from: 'intruder', to, term },
        ];
        const res = await call(host.url, 'POST', '/cluster/raft', messages, { authorization: `Bearer ${secret}`, 'x-bicycle-address': `10.99.0.${i + 1}:7070` });
        if (res.status !== 204) refused += 1;
      }
      term += 3;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(term > start.term + 80, 'the terms sent went far above the cluster\'s');
    for (const host of lab.hosts) {
      const now = await clusterOf(host.url);
      assert.equal(now.leader, start.leader, `${host.name}'s leader`);
      assert.equal(now.term, start.term, `${host.name}'s term`);
    }
    assert.equal(refused, 0, 'the requests were delivered (and their messages dropped by the voting thread)');
  });
});
