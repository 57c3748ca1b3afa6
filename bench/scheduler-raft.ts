/**
 * Scheduler scale end to end through Raft (simulated agents, no Docker):
 * 3 managers in one process (bench/raft-cluster-sim.ts: real Raft cores,
 * SqliteRaftStorage and SqliteStateMachine, each on its own SQLite file,
 * joined by an in-memory message pump: the network is not measured). On the
 * leader: N simulated nodes registered (READY), then S services created, then
 * passes like Manager.pass(): read services, tasks and nodes from the
 * leader's database, orchestrate + schedule, propose the commands as `batch`
 * entries of at most 5,000 commands. Simulated agents, each attached to one
 * manager, read the tasks ASSIGNED to their node from that manager's database
 * and report `task.observe` RUNNING, batched the same way, through the leader.
 * Timed from the first proposal (the services' creation) until every task is
 * RUNNING as applied on all 3 managers. Baseline in the same run: the same
 * passes and commands applied straight to one SQLite (applyCommand in one
 * transaction per batch, synchronous = NORMAL as openDatabase sets), no log,
 * no replication. Prints a table and writes bench/results/scheduler-raft.json.
 *   node dist/bench/scheduler-raft.js
 * Knobs: BENCH_RAFT_SIZES ("1000x100000,5000x100000,5000x1000000"),
 * BENCH_RAFT_MILLION_BUDGET_S (180: the 1,000,000-task run is skipped when the
 * 100,000-task run at 5,000 nodes, scaled up linearly, would exceed it).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { applyCommand } from '../database/apply-command';
import type { Command } from '../database/commands';
import { openDatabase, type Db } from '../database/open-database';
import { listNodes, listServices, listTasks } from '../database/queries';
import { orchestrate } from '../daemon/deployment/orchestrator';
import { schedule, schedulerInput } from '../daemon/deployment/scheduler';
import { foldPlacements, withCommands } from '../daemon/deployment/manager';
import { detectHostChanges } from '../daemon/voting/host-monitor';
import { SimCluster } from './raft-cluster-sim';
import { fixed, onCleanup, runBenchmark, table, writeResults } from './common';

const NOMAD_C1M_PER_SECOND = 3_750;
const SERVICES = 100;
const CHUNK = 5_000;
const UPDATE_PARALLELISM = 2; // config.json deployment.updateParallelism

/** Where the commands go: through the 3-manager Raft, or straight into one SQLite. */
interface Target {
  /** The database the leader's passes read. */
  leaderDb: Db;
  /** The database the agents attached to manager `i` read. */
  agentDb(i: number): Db;
  /** Proposes (or applies) the commands, `CHUNK` per batch entry, and returns once all of them are applied everywhere. */
  commit(commands: Command[]): void;
  entries: number;
}

function chunks(commands: Command[]): Command[][] {
  const out: Command[][] = [];
  for (let i = 0; i < commands.length; i += CHUNK) out.push(commands.slice(i, i + CHUNK));
  return out;
}

function raftTarget(cluster: SimCluster): Target {
  const leader = cluster.leader()!;
  const t: Target = {
    leaderDb: leader.db,
    agentDb: (i) => cluster.managers[i % cluster.managers.length]!.db,
    entries: 0,
    commit(commands) {
      for (const chunk of chunks(commands)) {
        cluster.propose(JSON.stringify({ type: 'batch', commands: chunk } satisfies Command));
        t.entries++;
        cluster.pump();
      }
      // Heartbeats carry the last commit index to the followers.
      for (let i = 0; i < 20 && !cluster.settled(); i++) cluster.tick();
      if (!cluster.settled()) throw new Error('the cluster did not apply every entry');
    },
  };
  return t;
}

function directTarget(db: Db): Target {
  const applyBatch = db.transaction((command: Command) => applyCommand(db, command));
  const t: Target = {
    leaderDb: db,
    agentDb: () => db,
    entries: 0,
    commit(commands) {
      for (const chunk of chunks(commands)) {
        applyBatch({ type: 'batch', commands: chunk });
        t.entries++;
      }
    },
  };
  return t;
}

interface Phases {
  readMs: number;
  decideMs: number;
  commitMs: number;
  agentsMs: number;
  passes: number;
  commands: number;
}

/** The leader's pass: read, orchestrate + schedule, commit. Returns the number of commands. */
function managerPass(target: Target, phases: Phases): number {
  let t = performance.now();
  const now = Date.now();
  const services = listServices(target.leaderDb);
  const tasks = listTasks(target.leaderDb);
  const nodes = listNodes(target.leaderDb);
  phases.readMs += performance.now() - t;
  t = performance.now();
  const orchestrated = orchestrate({
    services, tasks, nodes, now,
    newTaskId: () => randomBytes(12).toString('hex'),
    updateParallelism: UPDATE_PARALLELISM,
    autoRebalance: false,
  });
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const placed = schedule(withCommands(schedulerInput(tasks), orchestrated.commands, (id) => byId.get(id)), nodes, now);
  const commands = foldPlacements(orchestrated.commands, placed.commands);
  phases.decideMs += performance.now() - t;
  t = performance.now();
  if (commands.length > 0) target.commit(commands);
  phases.commitMs += performance.now() - t;
  phases.passes++;
  phases.commands += commands.length;
  return commands.length;
}

/** Every agent reports RUNNING for the tasks ASSIGNED to its node, as its manager's database shows them. */
function agentsReport(target: Target, managers: number, nodeIndex: Map<string, number>, phases: Phases, silent: ReadonlySet<string> = new Set()): number {
  const t = performance.now();
  const now = Date.now();
  const commands: Command[] = [];
  for (let i = 0; i < managers; i++) {
    const rows = target.agentDb(i).prepare("SELECT id, node_id FROM tasks WHERE state = 'ASSIGNED' ORDER BY node_id").all() as { id: string; node_id: string }[];
    for (const row of rows) {
      if ((nodeIndex.get(row.node_id) ?? -1) % managers !== i || silent.has(row.node_id)) continue;
      commands.push({ type: 'task.observe', taskId: row.id, state: 'RUNNING', containerId: randomBytes(32).toString('hex'), startedAt: now, at: now });
    }
  }
  if (commands.length > 0) target.commit(commands);
  phases.agentsMs += performance.now() - t;
  phases.commands += commands.length;
  return commands.length;
}

function nodeId(i: number): string {
  return `node-${i.toString(16).padStart(8, '0')}`;
}

interface Run {
  seconds: number;
  placementsPerSecond: number;
  entries: number;
  phases: Phases;
  managers?: { id: string; saveMs: number; applyMs: number; entriesApplied: number }[];
  messages?: number;
  loss: Loss;
}

/** The loss of LOST_SHARE of the nodes at once, after every task runs. */
interface Loss {
  nodes: number;
  /** Tasks that were RUNNING on the lost nodes. */
  tasks: number;
  /** From the host monitor's verdict (DOWN proposed) until every replica runs again on the others, all managers applied. */
  seconds: number;
}

/** One node in ten lost at once. */
const LOST_SHARE = 0.1;
/** voting.hostGraceMs's default: how long a silent node has before the leader declares it DOWN (not waited here, added in the docs). */
const HOST_GRACE_MS = 3_000;

/** One run of the workload on a target; `managers` agents' attachment count (3 for Raft, 1 direct). */
function runWorkload(target: Target, nodeCount: number, taskCount: number, managers: number, verify: Db[]): Run {
  const at = Date.now();
  // Setup, not timed: the nodes register (READY).
  const register: Command[] = [];
  const nodeIndex = new Map<string, number>();
  for (let i = 0; i < nodeCount; i++) {
    nodeIndex.set(nodeId(i), i);
    register.push({ type: 'node.register', node: { id: nodeId(i), name: `host-${String(i).padStart(5, '0')}`, address: `10.0.${i >> 8}.${i & 255}:7070`, role: 'worker', startedAt: at }, at });
  }
  target.commit(register);
  const entriesBefore = target.entries;

  const phases: Phases = { readMs: 0, decideMs: 0, commitMs: 0, agentsMs: 0, passes: 0, commands: 0 };
  const start = performance.now();
  const replicas = taskCount / SERVICES;
  const creates: Command[] = [];
  for (let s = 0; s < SERVICES; s++) {
    creates.push({
      type: 'service.create', id: randomBytes(12).toString('hex'), name: `svc-${String(s).padStart(4, '0')}`,
      spec: { image: 'bicycle/busybox:test', command: ['sleep', '3600'], env: {}, labels: {}, ports: [] }, replicas, at,
    });
  }
  let t = performance.now();
  target.commit(creates);
  phases.commitMs += performance.now() - t;
  phases.commands += creates.length;
  for (let round = 0; ; round++) {
    if (round > 20) throw new Error('the workload did not settle in 20 rounds');
    const decided = managerPass(target, phases);
    const reported = agentsReport(target, managers, nodeIndex, phases);
    if (decided === 0 && reported === 0) break;
  }
  const seconds = (performance.now() - start) / 1000;
  for (const db of verify) {
    const { running, total } = db.prepare("SELECT SUM(state = 'RUNNING') AS running, COUNT(*) AS total FROM tasks").get() as { running: number; total: number };
    if (running !== taskCount || total !== taskCount) throw new Error(`expected ${taskCount} tasks RUNNING, found ${running} of ${total}`);
  }
  const entries = target.entries - entriesBefore;
  return { seconds, placementsPerSecond: taskCount / seconds, entries, phases, loss: loseNodes(target, nodeCount, taskCount, managers, nodeIndex, verify) };
}

/**
 * Every tenth node goes silent at once: the leader's host monitor (the pure
 * detectHostChanges the daemon runs) sees them past the grace and proposes
 * them DOWN; the passes then replace their replicas on the others, whose
 * agents report RUNNING. Timed from the verdict to every replica RUNNING on
 * a live node as all managers applied it; the grace itself is not waited.
 */
function loseNodes(target: Target, nodeCount: number, taskCount: number, managers: number, nodeIndex: Map<string, number>, verify: Db[]): Loss {
  const lost = new Set<string>();
  for (let i = 0; i < nodeCount; i += Math.round(1 / LOST_SHARE)) lost.add(nodeId(i));
  const on = [...lost].map(() => '?').join(',');
  const lostTasks = (target.leaderDb.prepare(`SELECT COUNT(*) AS n FROM tasks WHERE state = 'RUNNING' AND node_id IN (${on})`).get(...lost) as { n: number }).n;
  const phases: Phases = { readMs: 0, decideMs: 0, commitMs: 0, agentsMs: 0, passes: 0, commands: 0 };
  const start = performance.now();
  const now = Date.now();
  const lastContact = new Map([...nodeIndex.keys()].map((id) => [id, lost.has(id) ? now - HOST_GRACE_MS - 1 : now]));
  target.commit(detectHostChanges({ nodes: listNodes(target.leaderDb), selfId: 'none', lastContact, leaderSince: now - 10 * HOST_GRACE_MS, now, graceMs: HOST_GRACE_MS }));
  for (let round = 0; ; round++) {
    if (round > 20) throw new Error('the loss did not settle in 20 rounds');
    const decided = managerPass(target, phases);
    const reported = agentsReport(target, managers, nodeIndex, phases, lost);
    if (decided === 0 && reported === 0) break;
  }
  const seconds = (performance.now() - start) / 1000;
  for (const db of verify) {
    const { running } = db.prepare(`SELECT COUNT(*) AS running FROM tasks WHERE state = 'RUNNING' AND desired_state = 'RUNNING' AND node_id NOT IN (${on})`).get(...lost) as { running: number };
    if (running !== taskCount) throw new Error(`after the loss of ${lost.size} nodes: expected ${taskCount} replicas RUNNING on the others, found ${running}`);
  }
  return { nodes: lost.size, tasks: lostTasks, seconds: Math.round(seconds * 100) / 100 };
}

interface Row {
  nodes: number;
  tasks: number;
  raft: Run;
  direct: Run;
  /** The same Raft run with prepared statements cached (an experiment: what fixing apply-command.ts would give). */
  raftCached?: Run;
}

function round(run: Run): Run {
  const r = (x: number) => Math.round(x);
  return {
    ...run,
    seconds: Math.round(run.seconds * 100) / 100,
    placementsPerSecond: r(run.placementsPerSecond),
    phases: { ...run.phases, readMs: r(run.phases.readMs), decideMs: r(run.phases.decideMs), commitMs: r(run.phases.commitMs), agentsMs: r(run.phases.agentsMs) },
    ...(run.managers ? { managers: run.managers.map((m) => ({ ...m, saveMs: r(m.saveMs), applyMs: r(m.applyMs) })) } : {}),
  };
}

const CACHED = process.env.BENCH_RAFT_CACHED === '1';

function raftRun(dir: string, nodeCount: number, taskCount: number, cacheStatements: boolean): Run {
  mkdirSync(dir);
  const cluster = new SimCluster(dir, 3, cacheStatements);
  try {
    cluster.elect();
    const raft = runWorkload(raftTarget(cluster), nodeCount, taskCount, cluster.managers.length, cluster.managers.map((m) => m.db));
    raft.managers = cluster.managers.map((m) => ({ id: m.id, saveMs: m.saveMs, applyMs: m.applyMs, entriesApplied: m.entriesApplied }));
    raft.messages = cluster.messages;
    return round(raft);
  } finally {
    cluster.close();
  }
}

function measure(nodeCount: number, taskCount: number): Row {
  const dir = mkdtempSync(join(tmpdir(), 'bicycle-bench-sched-raft-'));
  const undo = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  try {
    // Baseline first: one SQLite, no Raft.
    const db = openDatabase(join(dir, 'direct.db'), { migrate: true });
    const direct = runWorkload(directTarget(db), nodeCount, taskCount, 1, [db]);
    db.close();

    const raft = raftRun(join(dir, 'raft'), nodeCount, taskCount, false);
    const raftCached = CACHED ? raftRun(join(dir, 'raft-cached'), nodeCount, taskCount, true) : undefined;
    return { nodes: nodeCount, tasks: taskCount, raft, direct: round(direct), ...(raftCached ? { raftCached } : {}) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    undo();
  }
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_RAFT_SIZES ?? '1000x100000,5000x100000,5000x1000000')
    .split(',')
    .map((s) => s.split('x').map(Number) as [number, number]);
  const budgetS = Number(process.env.BENCH_RAFT_MILLION_BUDGET_S ?? 180);
  const rows: Row[] = [];
  const skipped: { nodes: number; tasks: number; estimateS: number; reason: string }[] = [];
  for (const [nodeCount, taskCount] of sizes) {
    // The runs before tell how long this one would take (cost grows about linearly in tasks).
    const smaller = rows.filter((r) => r.nodes === nodeCount && r.tasks < taskCount).pop() ?? rows[rows.length - 1];
    if (smaller && taskCount >= 1_000_000) {
      const estimateS = ((smaller.raft.seconds + smaller.direct.seconds + (smaller.raftCached?.seconds ?? 0)) * taskCount) / smaller.tasks;
      if (estimateS > budgetS) {
        skipped.push({ nodes: nodeCount, tasks: taskCount, estimateS: Math.round(estimateS), reason: `estimated ${Math.round(estimateS)} s (Raft + baseline) > budget ${budgetS} s` });
        process.stderr.write(`scheduler-raft: ${nodeCount} nodes, ${taskCount} tasks skipped (estimated ${Math.round(estimateS)} s)\n`);
        continue;
      }
    }
    rows.push(measure(nodeCount, taskCount));
    process.stderr.write(`scheduler-raft: ${nodeCount} nodes, ${taskCount} tasks done\n`);
  }

  console.log(`\nEnd to end through 3 managers (Raft + SQLite, in one process, in-memory network), ${SERVICES} services, batches of ${CHUNK} commands\n`);
  console.log(
    table([
      ['nodes', 'tasks', 'raft s', 'placements/s', 'x Nomad C1M', 'no Raft s', 'no Raft placements/s', 'raft/no Raft', 'entries', 'read s', 'decide s', 'log save s (3)', 'apply s (3)', 'lost nodes', 'their tasks', 'moved s', 'no Raft moved s', ...(CACHED ? ['cached stmts: raft s', 'cached: placements/s'] : [])],
      ...rows.map((r) => [
        r.nodes, r.tasks, fixed(r.raft.seconds, 1), r.raft.placementsPerSecond, fixed(r.raft.placementsPerSecond / NOMAD_C1M_PER_SECOND, 1),
        fixed(r.direct.seconds, 1), r.direct.placementsPerSecond, fixed(r.raft.seconds / r.direct.seconds, 2), r.raft.entries,
        fixed(r.raft.phases.readMs / 1000, 1), fixed(r.raft.phases.decideMs / 1000, 1),
        fixed(r.raft.managers!.reduce((s, m) => s + m.saveMs, 0) / 1000, 1), fixed(r.raft.managers!.reduce((s, m) => s + m.applyMs, 0) / 1000, 1),
        r.raft.loss.nodes, r.raft.loss.tasks, fixed(r.raft.loss.seconds, 1), fixed(r.direct.loss.seconds, 1),
        ...(CACHED ? [r.raftCached ? fixed(r.raftCached.seconds, 1) : '-', r.raftCached ? r.raftCached.placementsPerSecond : '-'] : []),
      ]),
    ]),
  );
  for (const s of skipped) {
    const ref = rows.filter((r) => r.nodes === s.nodes).pop() ?? rows[rows.length - 1]!;
    console.log(`${s.nodes} nodes, ${s.tasks} tasks: not run, ${s.reason}; extrapolated linearly from ${ref.tasks} tasks: ~${Math.round((ref.raft.seconds * s.tasks) / ref.tasks)} s through Raft, ~${ref.raft.placementsPerSecond} placements/s if the rate holds.`);
  }
  console.log(`\nNomad C1M for reference: ${NOMAD_C1M_PER_SECOND} placements/s; goal end to end through Raft: at least that.`);
  console.log(`"moved s": one node in ${Math.round(1 / LOST_SHARE)} lost at once, from the host monitor's DOWN verdict to every replica RUNNING on the others; the daemon adds voting.hostGraceMs (${HOST_GRACE_MS / 1000} s by default) of silence before that verdict.`);
  const file = writeResults('scheduler-raft', { services: SERVICES, commandsPerEntry: CHUNK, nomadC1mPerSecond: NOMAD_C1M_PER_SECOND, rows, skipped });
  console.log(`wrote ${file}`);
}

runBenchmark('bench:scheduler-raft', main);
