import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../database/open-database';
import { setLocal } from '../../database/queries';
import { ClusterNode, type ClusterNodeOptions } from '../../daemon/voting/cluster-node';
import { PlainPeerHttp } from '../../daemon/tls/peer-tls';
import { fromErrorData } from '../../daemon/errors';
import type { VotingRequest } from '../../daemon/messages';
import type { Message } from '../../daemon/voting/raft/index';
import { serveApp, stubRestContext } from '../helpers/rest-context';
import { answerAsVotingThread, quiet } from '../helpers/shell-db';
import { waitFor } from '../helpers/wait';

/**
 * The voting thread's shell, three of it in one process: a fixed cluster
 * of three managers, each a ClusterNode over its own database in a temp
 * dir, reached by its peers through its REST app on a loopback port (Raft
 * batches and forwarded requests over clear HTTP, as with --insecure). What
 * is checked is what the API of each node answers: who leads, the nodes and
 * their status, the services written on any of them.
 */
const SECRET = 'a-fixed-cluster-secret-for-the-test';
const SETTINGS: ClusterNodeOptions['settings'] = { tickMs: 20, electionTicks: 10, heartbeatTicks: 2, hostGraceMs: 1000, snapshotEveryEntries: 1000, forwardTimeoutMs: 5000 };
const NAMES = ['alpha', 'beta', 'gamma'];
const until = <T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false) => waitFor(what, check, 20_000, 20);

interface Member {
  name: string;
  /** The voting thread's connection. */
  db: Db;
  /** The REST thread's: one connection per thread, as in the daemon (the API's state cache notices another connection's writes). */
  restDb: Db;
  dir: string;
  node: ClusterNode;
  server: Server;
  base: string;
  stopped: boolean;
}


async function member(name: string): Promise<Member> {
  const dir = mkdtempSync(join(tmpdir(), `bicycle-${name}-`));
  const db = openDatabase(join(dir, 'bicycle.db'), { migrate: true });
  setLocal(db, 'node_id', name);
  setLocal(db, 'cluster_secret', SECRET);
  const restDb = openDatabase(join(dir, 'bicycle.db'));
  const m = { name, db, restDb, dir, stopped: false } as Member;
  const ask = async (request: VotingRequest) => {
    const reply = await answerAsVotingThread(m.node, request);
    if (!reply.ok) throw fromErrorData(reply.error);
    return reply;
  };
  const ctx = stubRestContext(restDb, {
    now: Date.now,
    deliverRaft: (messages, fromAddress) => m.node.receive(messages as Message[], fromAddress),
    async propose(command) {
      return (await ask({ kind: 'propose', command, forwarded: false })).result!;
    },
    voting: {
      readBarrier: async () => (await ask({ kind: 'read', forwarded: false })).index ?? 0,
      join: async () => { throw new Error('no join in this test'); },
      changeMembership: async () => undefined,
      raw: (request) => answerAsVotingThread(m.node, request),
    },
  });
  ({ server: m.server, base: m.base } = await serveApp(ctx));
  return m;
}

async function get(m: Member, path: string): Promise<any> {
  const res = await fetch(m.base + path);
  const body = await res.json();
  if (!res.ok) throw new Error(`${m.name} GET ${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

describe('a fixed cluster of three ClusterNodes in one process', () => {
  const members: Member[] = [];
  before(async () => {
    for (const name of NAMES) members.push(await member(name));
    const addresses = Object.fromEntries(members.map((m) => [m.name, m.base.replace('http://', '')]));
    for (const m of members) {
      m.node = new ClusterNode({
        db: m.db, nodeId: m.name, name: m.name, advertise: addresses[m.name]!, role: 'manager', settings: SETTINGS,
        notes: { publish() {}, subscribe: () => () => undefined, close() {} } as unknown as ClusterNodeOptions['notes'],
        log: quiet,
        tls: { files: { caCert: () => undefined }, caFingerprint: () => undefined } as unknown as ClusterNodeOptions['tls'],
        peers: new PlainPeerHttp(),
      });
      m.node.learnAddresses(addresses);
    }
    for (const m of members) m.node.start(NAMES);
  });
  after(() => {
    for (const m of members) {
      if (!m.stopped) m.node.stop();
      m.server.closeAllConnections();
      m.server.close();
      m.restDb.close();
      m.db.close();
      rmSync(m.dir, { recursive: true, force: true });
    }
  });

  /** The leader every running member's /healthz names, once they agree (on a running one). */
  const agreedLeader = () =>
    until('one leader all running members name', async () => {
      const running = members.filter((m) => !m.stopped);
      const leaders = await Promise.all(running.map(async (m) => (await get(m, '/healthz')).leader as string | null));
      const named = leaders[0];
      return named && running.some((m) => m.name === named) && leaders.every((l) => l === named) ? named : undefined;
    });

  test('they elect one leader, and every member lists the three nodes READY', async () => {
    const leader = await agreedLeader();
    assert.ok(NAMES.includes(leader));
    for (const m of members) {
      const nodes = await until(`${m.name} lists three nodes`, async () => {
        const listed = (await get(m, '/nodes')).nodes as Array<{ name: string; status: string }>;
        return listed.length === 3 ? listed : undefined;
      });
      assert.deepEqual(nodes.map((n) => [n.name, n.status]).sort(), NAMES.map((n) => [n, 'READY']));
    }
  });

  test('a service written on a follower is forwarded to the leader and every member shows it', async () => {
    const leader = await agreedLeader();
    const follower = members.find((m) => m.name !== leader)!;
    const res = await fetch(`${follower.base}/services`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'web', image: 'web:1', replicas: 3 }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    for (const m of members) {
      const shown = await until(`${m.name} shows web`, async () => {
        const r = await fetch(`${m.base}/services/web`);
        return r.ok ? ((await r.json()) as { name: string; replicas: number }) : undefined;
      });
      assert.deepEqual([shown.name, shown.replicas], ['web', 3]);
    }
  });

  test('the leader stops: the other two elect a new one, take writes, and mark the old one DOWN', async () => {
    const first = await agreedLeader();
    const old = members.find((m) => m.name === first)!;
    old.node.stop();
    old.stopped = true;
    old.server.closeAllConnections();
    old.server.close();

    const second = await agreedLeader();
    assert.notEqual(second, first);
    const survivor = members.find((m) => !m.stopped && m.name !== second)!;
    const res = await fetch(`${survivor.base}/services`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'api', image: 'api:1', replicas: 1 }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    for (const m of members.filter((x) => !x.stopped)) {
      await until(`${m.name} marks ${first} DOWN`, async () => {
        const nodes = (await get(m, '/nodes')).nodes as Array<{ name: string; status: string }>;
        return nodes.find((n) => n.name === first)?.status === 'DOWN';
      });
      assert.equal((await fetch(`${m.base}/services/api`)).status, 200);
    }
  });
});
