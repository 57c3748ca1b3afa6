/**
 * What idle nodes cost a leader today (docs/scale.md). Every Bicycle node is
 * a Raft member (workers are learners), so the leader sends each one a
 * heartbeat every heartbeat tick and hears its answer. Two parts, in one run:
 *
 * 1. The Raft core: a leader (real `Raft`, MemoryStorage) with 2 voters (real
 *    cores) and N learners (stubs answering as a caught-up learner does), driven through the Ready
 *    contract and ticked every 100 ms of simulated time (the daemon's
 *    voting.tickMs, heartbeatTicks 1). Timed: the leader's own work only
 *    (tick, step of the answers, ready/advance), plus JSON.stringify of what
 *    it sends (the transport's serialisation). Counted: the messages it sends
 *    per second.
 * 2. The transport: the CPU time of one heartbeat batch sent by the
 *    daemon's HttpTransport to a local listener, over 5,000 batches to 16
 *    peers at once, client and server in this process, measured as the
 *    process's CPU time divided by batches (both ends: the leader's send
 *    and, in the real daemon, the learner's answer arriving at the leader's
 *    REST listener are both on the leader). Two carriers in the same run:
 *    the Raft stream (the default: modules/raft-stream.ts on the listener)
 *    and a POST per batch (what peers without the stream get, and what every
 *    batch was before; here answered by a bare node:http handler, not the
 *    API's koa middleware, so the real POST costs more).
 *
 * Each size runs twice: learners' heartbeats every tick (as before
 * voting.learnerHeartbeatTicks) and every 10 ticks (its default).
 * The estimate for N idle nodes: leader core per second + 2 batches per
 * message (out, and the answer in) × the CPU of one, per carrier. Prints a table and writes bench/results/idle-nodes.json.
 *   node dist/bench/idle-nodes.js            (BENCH_IDLE_NODES="100,1000,5000")
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { MemoryStorage, Raft, type Message, type Ready } from '../daemon/voting/raft/index';
import { HttpTransport } from '../daemon/voting/http-transport';
import { PlainPeerHttp } from '../daemon/tls/peer-tls';
import winston from 'winston';
import { openDatabase } from '../database/open-database';
import { applyCommand } from '../database/apply-command';
import { raftStreamServer } from '../modules/raft-stream';
import type { InboundLinkCuts } from '../modules/debug-links';
import { fixed, runBenchmark, table, writeResults } from './common';

const SIZES = (process.env.BENCH_IDLE_NODES ?? '100,1000,5000').split(',').map(Number);
const TICKS_PER_SECOND = 10;
const MEASURED_SECONDS = 10;

interface Member {
  id: string;
  storage: MemoryStorage;
  raft: Raft;
}

function member(id: string, voters: string[], learners: string[], seed: number, learnerHeartbeatTicks: number): Member {
  const storage = new MemoryStorage();
  let s = seed;
  const raft = new Raft({ id, storage, peers: voters, learners, learnerHeartbeatTicks, random: () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) });
  return { id, storage, raft };
}

/** Runs the Ready contract of `m` once; returns its messages. */
function drain(m: Member): readonly Message[] {
  if (!m.raft.hasReady()) return [];
  const rd: Ready = m.raft.ready();
  m.storage.save(rd.hardState, rd.entries, rd.snapshot);
  m.raft.advance(rd);
  return rd.messages;
}

function coreCost(learnerCount: number, learnerHeartbeatTicks: number): { leaderMsPerSecond: number; messagesPerSecond: number; bytesPerSecond: number } {
  const voters = ['m1', 'm2', 'm3'];
  const learners = Array.from({ length: learnerCount }, (_, i) => `w${i + 1}`);
  // Voters are real cores; learners are stubs that answer as a caught-up learner does (thousands of full cores, each
  // holding the whole membership, would not fit in one process, and their work is not the leader's).
  const members = voters.map((id, i) => member(id, voters, learners, 1000 + i, learnerHeartbeatTicks));
  const byId = new Map(members.map((m) => [m.id, m]));
  const leader = members[0]!;
  const stubAnswer = (msg: Message): Message | undefined => {
    if (msg.type === 'heartbeat') return { type: 'heartbeatResp', from: msg.to, to: msg.from, term: msg.term, context: msg.context } as Message;
    if (msg.type === 'append') {
      const index = msg.prevIndex + msg.entries.length;
      return { type: 'appendResp', from: msg.to, to: msg.from, term: msg.term, reject: false, index, hintIndex: 0, hintTerm: 0 } as Message;
    }
    return undefined;
  };
  const stepTo = (msg: Message, out: Message[]) => {
    const target = byId.get(msg.to);
    if (target) return target.raft.step(msg);
    const answer = stubAnswer(msg);
    if (answer) out.push(answer);
  };
  let queue: Message[] = [];
  const deliver = () => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      for (const msg of batch) stepTo(msg, queue);
      for (const m of members) queue.push(...drain(m));
    }
  };
  for (let i = 0; i < 200 && leader.raft.basicStatus().role !== 'leader'; i++) {
    leader.raft.tick();
    queue.push(...drain(leader));
    deliver();
  }
  if (leader.raft.basicStatus().role !== 'leader') throw new Error('m1 did not become leader');
  // Settle the first round of appends to every learner.
  for (let i = 0; i < 20; i++) {
    for (const m of members) m.raft.tick();
    for (const m of members) queue.push(...drain(m));
    deliver();
  }

  let leaderMs = 0;
  let sent = 0;
  let bytes = 0;
  const timed = <T>(f: () => T): T => {
    const t = performance.now();
    const out = f();
    leaderMs += performance.now() - t;
    return out;
  };
  for (let tick = 0; tick < MEASURED_SECONDS * TICKS_PER_SECOND; tick++) {
    for (const m of members) if (m !== leader) m.raft.tick();
    timed(() => leader.raft.tick());
    const fromLeader = timed(() => drain(leader));
    // The transport's serialisation: one JSON batch per peer.
    timed(() => {
      const perPeer = new Map<string, Message[]>();
      for (const msg of fromLeader) perPeer.set(msg.to, [...(perPeer.get(msg.to) ?? []), msg]);
      for (const batch of perPeer.values()) bytes += JSON.stringify(batch).length;
    });
    sent += fromLeader.length;
    const answers: Message[] = [];
    for (const msg of fromLeader) stepTo(msg, answers);
    for (const m of members) if (m !== leader) answers.push(...drain(m));
    timed(() => {
      for (const msg of answers) if (msg.to === leader.id) leader.raft.step(msg);
    });
    const more = timed(() => drain(leader));
    sent += more.length;
    const rest: Message[] = [];
    for (const msg of more) stepTo(msg, rest);
    for (const m of members) if (m !== leader) drain(m);
  }
  if (leader.raft.basicStatus().role !== 'leader') throw new Error('the leader lost its role while idle');
  return { leaderMsPerSecond: leaderMs / MEASURED_SECONDS, messagesPerSecond: sent / MEASURED_SECONDS, bytesPerSecond: bytes / MEASURED_SECONDS };
}

/**
 * CPU ms of one heartbeat batch through HttpTransport (client and server in
 * this process), over `count` batches to 16 peers at once: over the Raft
 * stream, or as a POST each (`streams` false).
 */
async function batchCost(count: number, streams: boolean): Promise<number> {
  const db = openDatabase(':memory:', { migrate: true });
  applyCommand(db, { type: 'cluster.init', clusterId: 'bench', secret: 'bench-secret', joinToken: 'BCT1-bench-x', at: Date.now() });
  let delivered = 0;
  let roundDone: { target: number; resolve(): void } | undefined;
  const counted = () => {
    delivered++;
    if (roundDone && delivered >= roundDone.target) roundDone.resolve();
  };
  const noCuts = { current: () => [] } as unknown as InboundLinkCuts;
  const stream = raftStreamServer({ db, cuts: noCuts, deliver: counted, maxLineBytes: 1 << 20 });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      counted();
      res.statusCode = req.method === 'POST' ? 204 : 404;
      res.end();
    });
  });
  server.on('upgrade', stream.upgrade);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const peers = Array.from({ length: 16 }, (_, i) => `w${i}`);
  const transport = new HttpTransport({
    http: new PlainPeerHttp(), selfAddress: '10.0.0.1:7070', secret: () => 'bench-secret', addressOf: () => address,
    onUnreachable: (id) => { throw new Error(`${id} unreachable in the transport benchmark`); }, onSnapshotSent: () => {},
    log: winston.createLogger({ silent: true }), streams,
  });
  // One batch to each peer, then wait (without spinning) until the listener has all of them.
  const round = () =>
    new Promise<void>((resolve) => {
      roundDone = { target: delivered + peers.length, resolve };
      transport.send(peers.map((to) => ({ type: 'heartbeat', from: 'm1', to, term: 2, commit: 1000, context: '' }) as unknown as Message));
    });
  for (let i = 0; i < 200; i += peers.length) await round();
  const before = process.cpuUsage();
  for (let i = 0; i < count; i += peers.length) await round();
  const used = process.cpuUsage(before);
  transport.close();
  stream.close();
  server.closeAllConnections();
  server.close();
  db.close();
  return (used.user + used.system) / 1000 / count;
}

runBenchmark('idle-nodes', async () => {
  const perStreamMs = await batchCost(5000, true);
  const perPostMs = await batchCost(5000, false);
  const rows: (string | number)[][] = [['nodes', 'learner heartbeat', 'leader core ms/s', 'messages/s', 'KiB/s sent', 'batches/s', 'est. leader CPU, stream (cores)', 'est. leader CPU, POST each (cores)']];
  const results: unknown[] = [];
  // Every tick (as before voting.learnerHeartbeatTicks) against every 10 ticks (the default now), in the same run.
  for (const n of SIZES) for (const learnerTicks of [1, 10]) {
    const core = coreCost(n, learnerTicks);
    // Heartbeats and their answers: one batch out per peer and heartbeat, and one in (the answer comes back to the leader's listener).
    const batches = core.messagesPerSecond * 2;
    const streamCores = (core.leaderMsPerSecond + batches * perStreamMs) / 1000;
    const postCores = (core.leaderMsPerSecond + batches * perPostMs) / 1000;
    rows.push([n, learnerTicks === 1 ? 'every tick' : `every ${learnerTicks} ticks`, fixed(core.leaderMsPerSecond, 1), Math.round(core.messagesPerSecond), fixed(core.bytesPerSecond / 1024, 0), Math.round(batches), fixed(streamCores, 2), fixed(postCores, 2)]);
    results.push({ nodes: n, learnerHeartbeatTicks: learnerTicks, ...core, batchesPerSecond: batches, perStreamBatchCpuMs: perStreamMs, perPostCpuMs: perPostMs, estimatedLeaderCoresStream: streamCores, estimatedLeaderCoresPost: postCores });
  }
  console.log(`one heartbeat batch through HttpTransport (client + server): ${fixed(perStreamMs, 3)} ms of CPU over the Raft stream, ${fixed(perPostMs, 3)} ms as a POST`);
  console.log(table(rows));
  writeResults('idle-nodes', results);
});
