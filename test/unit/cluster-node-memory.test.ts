import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../database/open-database';
import { getLocal, getMeta, getService, listNodes, listServices, setLocal } from '../../database/queries';
import { ClusterNode, type ClusterNodeOptions } from '../../daemon/voting/cluster-node';
import { PlainPeerHttp } from '../../daemon/tls/peer-tls';
import { MemoryNetwork } from '../helpers/memory-transport';
import { answerAsVotingThread, quiet, simpleSpec } from '../helpers/shell-db';
import { waitFor } from '../helpers/wait';

/**
 * The voting thread's shell, several of it in one process over an in-memory
 * network (test/helpers/memory-transport.ts): each ClusterNode over its own
 * SQLite database in a temp dir, its Raft batches and forwarded requests
 * carried by MemoryNetwork, which the test cuts, partitions, heals, slows
 * and makes lossy. No sockets. What is checked is what each node's database
 * shows a user (the leader it names, the nodes and their status, the
 * services) and what a proposal answers. The ticks are real (20 ms), so
 * every wait is a bounded poll (waitFor), never a sleep.
 */
const SECRET = 'a-fixed-cluster-secret-for-the-test';
const SETTINGS: ClusterNodeOptions['settings'] = { tickMs: 20, electionTicks: 10, heartbeatTicks: 2, hostGraceMs: 1000, snapshotEveryEntries: 1000, forwardTimeoutMs: 1500 };
const NAMES = ['alpha', 'beta', 'gamma'];
const until = <T>(what: string, check: () => T | undefined | false) => waitFor(what, check, 10_000, 10);

interface Member {
  name: string;
  db: Db;
  dir: string;
  node: ClusterNode;
}

interface Cluster {
  members: Member[];
  network: MemoryNetwork;
  byName(name: string): Member;
  stop(): void;
}


/** A fixed cluster of managers founded with every name as a voter, wired by one MemoryNetwork. */
function startCluster(options: { names?: string[]; settings?: Partial<ClusterNodeOptions['settings']>; network?: MemoryNetwork } = {}): Cluster {
  const names = options.names ?? NAMES;
  const network = options.network ?? new MemoryNetwork();
  const addresses = Object.fromEntries(names.map((name) => [name, `${name}.memory:7070`]));
  const members = names.map((name): Member => {
    const dir = mkdtempSync(join(tmpdir(), `bicycle-mem-${name}-`));
    const db = openDatabase(join(dir, 'bicycle.db'), { migrate: true });
    setLocal(db, 'node_id', name);
    setLocal(db, 'cluster_secret', SECRET);
    const m = { name, db, dir } as Member;
    network.add(name, addresses[name]!, {
      receive: (messages, fromAddress) => m.node.receive(messages, fromAddress),
      answer: (request) => answerAsVotingThread(m.node, request),
    });
    m.node = new ClusterNode({
      db, nodeId: name, name, advertise: addresses[name]!, role: 'manager', settings: { ...SETTINGS, ...options.settings },
      notes: { publish() {}, subscribe: () => () => undefined, close() {} } as unknown as ClusterNodeOptions['notes'],
      log: quiet,
      tls: { files: { caCert: () => undefined }, caFingerprint: () => undefined } as unknown as ClusterNodeOptions['tls'],
      peers: new PlainPeerHttp(),
      transport: network.transport(name),
      askLeader: network.ask(name),
    });
    m.node.learnAddresses(addresses);
    return m;
  });
  for (const m of members) m.node.start(names);
  return {
    members,
    network,
    byName: (name) => members.find((m) => m.name === name)!,
    stop() {
      for (const m of members) {
        m.node.stop();
        m.db.close();
        rmSync(m.dir, { recursive: true, force: true });
      }
    },
  };
}

/** The leader each of `members` names in its local state, once they all name the same one among them. */
function agreedLeader(members: readonly Member[]): Promise<Member> {
  return until(`one leader named by ${members.map((m) => m.name).join(', ')}`, () => {
    const named = members.map((m) => getLocal(m.db, 'leader_id'));
    const leader = members.find((m) => m.name === named[0]);
    return leader !== undefined && named.every((n) => n === leader.name) ? leader : undefined;
  });
}

/** A service.create command, as the REST thread would propose it. */
function create(name: string) {
  return { type: 'service.create' as const, id: `svc-${name}`, name, spec: simpleSpec(`${name}:1`), replicas: 1, at: 1_700_000_000_000 };
}

/** Proposes on `m` and asserts it committed and applied (the answer a REST client would get as 201). */
async function write(m: Member, service: string): Promise<void> {
  const reply = await m.node.propose(create(service), false);
  assert.ok(reply.ok, `${service} on ${m.name}: ${JSON.stringify(reply)}`);
  assert.notEqual(reply.result?.ok, false, `${service} on ${m.name}: ${JSON.stringify(reply.result)}`);
}

const statusOf = (m: Member, node: string) => listNodes(m.db).find((n) => n.name === node)?.status;
const serviceNames = (m: Member) => listServices(m.db).map((s) => s.name);
const applied = (m: Member) => Number(getLocal(m.db, 'applied_index') ?? 0);

/** Every member lists every member READY: each has registered (its `node.register` committed and was answered). */
async function registered(members: readonly Member[]): Promise<void> {
  for (const m of members) {
    await until(`${m.name} lists ${members.length} nodes READY`, () => {
      const nodes = listNodes(m.db);
      return nodes.length === members.length && nodes.every((n) => n.status === 'READY');
    });
  }
}

/**
 * Runs `body` on a fresh cluster and stops it whatever happens. A node
 * retries its registration until it is answered, even after stop() (a
 * ClusterNode has no way to cancel it), so a cluster that passed is let
 * settle first: closing the databases under a retry would fail it.
 */
async function withCluster(options: Parameters<typeof startCluster>[0], body: (c: Cluster) => Promise<void>): Promise<void> {
  const cluster = startCluster(options);
  try {
    await body(cluster);
    await registered(cluster.members);
  } finally {
    cluster.stop();
  }
}

describe('ClusterNodes over a memory network', () => {
  test('three elect one leader, found one cluster, and every member lists the three nodes READY', () =>
    withCluster({}, async ({ members }) => {
      const leader = await agreedLeader(members);
      assert.ok(NAMES.includes(leader.name));
      for (const m of members) {
        const nodes = await until(`${m.name} lists three nodes READY`, () => {
          const listed = listNodes(m.db).map((n) => [n.name, n.status]);
          return listed.length === 3 && listed.every(([, s]) => s === 'READY') ? listed : undefined;
        });
        assert.deepEqual(nodes, NAMES.map((n) => [n, 'READY']));
      }
      const clusterIds = members.map((m) => getMeta(m.db, 'cluster_id'));
      assert.ok(clusterIds[0]);
      assert.deepEqual(new Set(clusterIds).size, 1, `one cluster id on every member: ${clusterIds.join(', ')}`);
    }));

  test('a command proposed on the leader is applied on every member', () =>
    withCluster({}, async ({ members }) => {
      const leader = await agreedLeader(members);
      await write(leader, 'web');
      assert.equal(getService(leader.db, 'web')?.replicas, 1, 'the leader has applied it when its proposal answers');
      for (const m of members) await until(`${m.name} has web`, () => getService(m.db, 'web'));
    }));

  test('a write on a follower is forwarded to the leader, and the follower has applied it when it answers', () =>
    withCluster({}, async ({ members, network }) => {
      await registered(members);
      const leader = await agreedLeader(members);
      const follower = members.find((m) => m !== leader)!;
      await write(follower, 'api');
      assert.ok(getService(follower.db, 'api'), 'read-your-writes on the follower');
      assert.ok(getService(leader.db, 'api'), 'the leader applied it before answering');

      // The follower can no longer reach the leader (it still hears it): the forward fails as over a dead link, naming the leader.
      network.cut(follower.name, leader.name);
      const reply = await follower.node.propose(create('cut'), false);
      assert.equal(reply.ok, false);
      assert.equal(!reply.ok && reply.error.code, 'UNAVAILABLE');
      assert.match(!reply.ok ? reply.error.message : '', new RegExp(`cannot reach the leader ${leader.name} .*no answer within ${SETTINGS.forwardTimeoutMs} ms`));
      network.heal();
      await write(follower, 'after-heal');
      for (const m of members) {
        await until(`${m.name} has after-heal`, () => getService(m.db, 'after-heal'));
        assert.deepEqual(serviceNames(m), ['after-heal', 'api'], `${m.name}: the cut forward was never written`);
      }
    }));

  test('the leader partitioned away: the majority elects a new one and takes writes, the old one takes none; healed, it follows with the same rows', () =>
    withCluster({}, async ({ members, network }) => {
      await registered(members);
      const old = await agreedLeader(members);
      await write(old, 'before');
      for (const m of members) await until(`${m.name} has before`, () => getService(m.db, 'before'));

      network.isolate(old.name);
      // Still leading in its own eyes, the old leader appends this; it can never commit.
      const doomed = old.node.propose(create('doomed'), false);
      const majority = members.filter((m) => m !== old);
      const fresh = await agreedLeader(majority);
      assert.notEqual(fresh.name, old.name);
      await write(fresh, 'during');
      for (const m of majority) await until(`${m.name} has during`, () => getService(m.db, 'during'));

      // Without a quorum the old leader steps down (check quorum), and then answers writes at once with NO_LEADER.
      await until(`${old.name} names no leader`, () => getLocal(old.db, 'leader_id') === '');
      const refused = await old.node.propose(create('refused'), false);
      assert.equal(!refused.ok && refused.error.code, 'NO_LEADER', JSON.stringify(refused));
      assert.deepEqual(serviceNames(old), ['before'], 'the old leader has taken no write');

      network.heal();
      const settled = await doomed;
      assert.equal(!settled.ok && settled.error.code, 'PROPOSAL_DROPPED', JSON.stringify(settled));
      const leader = await agreedLeader(members);
      assert.notEqual(leader.name, old.name, 'the old leader, behind, follows');
      const target = applied(leader);
      await until(`${old.name} applies up to ${target}`, () => applied(old) >= target);
      for (const m of members) {
        assert.deepEqual(serviceNames(m), ['before', 'during'], m.name);
        assert.deepEqual(listServices(m.db), listServices(leader.db), `${m.name} holds the leader's rows`);
      }
    }));

  test('a member cut off is marked DOWN by the leader\'s host monitor, on every member that hears it, and READY again once healed', () =>
    withCluster({}, async ({ members, network }) => {
      await registered(members);
      const leader = await agreedLeader(members);
      const lost = members.find((m) => m !== leader)!;

      network.isolate(lost.name);
      const others = members.filter((m) => m !== lost);
      for (const m of others) await until(`${m.name} marks ${lost.name} DOWN`, () => statusOf(m, lost.name) === 'DOWN');
      assert.equal(statusOf(lost, lost.name), 'READY', 'the lost member never heard of it');
      assert.equal((await agreedLeader(others)).name, leader.name, 'one follower lost: the leader keeps leading');

      network.heal();
      for (const m of members) await until(`${m.name} marks ${lost.name} READY again`, () => statusOf(m, lost.name) === 'READY');
    }));

  test('a member cut off while the others write past a log compaction catches up from a snapshot', () =>
    withCluster({ settings: { snapshotEveryEntries: 5 } }, async ({ members, network }) => {
      await registered(members);
      const leader = await agreedLeader(members);
      const behind = members.find((m) => m !== leader)!;
      network.isolate(behind.name);
      const written = Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, '0')}`);
      for (const name of written) await write(leader, name);

      network.heal();
      await until(`${behind.name} has all ${written.length} services`, () => serviceNames(behind).length === written.length);
      assert.deepEqual(serviceNames(behind), written);
      assert.deepEqual(listServices(behind.db), listServices(leader.db));
      assert.ok(network.traffic(leader.name, behind.name).snapshots >= 1, 'the leader sent a snapshot');
    }));

  test('five members over a lossy, slow network (seeded): one leader, and writes reach every member', () =>
    withCluster({
      names: ['n1', 'n2', 'n3', 'n4', 'n5'],
      network: (() => {
        const network = new MemoryNetwork({ seed: 42 });
        network.setLoss(0.2);
        network.setDelay((from, to) => (from.charCodeAt(1) * 7 + to.charCodeAt(1) * 3) % 6);
        return network;
      })(),
    }, async ({ members, network }) => {
      const leader = await agreedLeader(members);
      for (const name of ['one', 'two', 'three']) await write(leader, name);
      for (const m of members) {
        await until(`${m.name} has three services`, () => serviceNames(m).length === 3);
        assert.deepEqual(serviceNames(m), ['one', 'three', 'two']);
      }
      const dropped = members.flatMap((a) => members.filter((b) => b !== a).map((b) => network.traffic(a.name, b.name).dropped));
      assert.ok(dropped.reduce((x, y) => x + y, 0) > 0, 'the network did lose messages');
    }));
});
