/**
 * Raft figures (a benchmark, not a test):
 *  (a) ticks from a leader crash to a new leader, over 1,000 seeds, at the
 *      default timing (heartbeat 1 tick, election timeout 5–9 ticks);
 *  (b) committed proposals per second through a 3-node cluster, on memory
 *      and on SQLite storages (temp files, synchronous=FULL), one proposal
 *      per Ready cycle and batches of 100.
 * Prints a table and writes bench/results/raft.json.
 *   node dist/bench/raft-bench.js
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MemoryStorage, Raft, SqliteRaftStorage, type Message, type NodeId, type RaftStorage } from '../daemon/voting/raft';
import { Rng } from '../test/sim/prng';

const TICK_MS = 100;

interface BenchNode {
  raft: Raft;
  storage: RaftStorage;
  up: boolean;
}

/** A cluster pumped synchronously: every message is delivered in the tick it is sent. */
class BenchCluster {
  readonly nodes = new Map<NodeId, BenchNode>();
  private queue: Message[] = [];

  constructor(ids: NodeId[], storages: RaftStorage[], rng: Rng) {
    ids.forEach((id, i) => {
      const r = rng.fork();
      const storage = storages[i]!;
      this.nodes.set(id, { raft: new Raft({ id, storage, peers: ids, random: () => r.next() }), storage, up: true });
    });
  }

  pump(): void {
    for (;;) {
      for (const node of this.nodes.values()) {
        if (!node.up) continue;
        while (node.raft.hasReady()) {
          const rd = node.raft.ready();
          node.storage.save(rd.hardState, rd.entries, rd.snapshot);
          for (const m of rd.messages) this.queue.push(m);
          node.raft.advance(rd);
        }
      }
      if (this.queue.length === 0) return;
      const due = this.queue;
      this.queue = [];
      for (const m of due) {
        const to = this.nodes.get(m.to);
        if (to !== undefined && to.up) to.raft.step(m);
      }
    }
  }

  /**
   * One tick of every node. Hosts' timers are not aligned and a message takes
   * far less than a tick, so nodes tick in a random order and what one sends
   * arrives before the next one ticks.
   */
  tick(rng: Rng, aligned = false): void {
    if (aligned) {
      // Worst case: every timer fires at the same instant, before any message moves.
      for (const node of this.nodes.values()) if (node.up) node.raft.tick();
      this.pump();
      return;
    }
    for (const node of rng.shuffle([...this.nodes.values()])) {
      if (!node.up) continue;
      node.raft.tick();
      this.pump();
    }
  }

  leader(): BenchNode | null {
    for (const node of this.nodes.values()) if (node.up && node.raft.basicStatus().role === 'leader') return node;
    return null;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function failover(nodes: number, seeds: number, aligned = false): { median: number; p99: number; max: number } {
  const ticks: number[] = [];
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  for (let seed = 1; seed <= seeds; seed++) {
    const rng = new Rng(seed);
    const c = new BenchCluster(ids, ids.map(() => new MemoryStorage()), rng);
    for (let i = 0; i < 30 || c.leader() === null; i++) c.tick(rng);
    // Crash the leader at a random point of its heartbeat cycle.
    for (let i = rng.int(3); i > 0; i--) c.tick(rng);
    c.leader()!.up = false;
    let n = 0;
    while (c.leader() === null) {
      c.tick(rng, aligned);
      n += 1;
      if (n > 1000) throw new Error(`seed ${seed}: no new leader after 1000 ticks`);
    }
    ticks.push(n);
  }
  ticks.sort((a, b) => a - b);
  return { median: percentile(ticks, 50), p99: percentile(ticks, 99), max: ticks[ticks.length - 1]! };
}

function throughput(storages: () => RaftStorage[], batch: number, budgetMs: number): number {
  const ids = ['n1', 'n2', 'n3'];
  const rng = new Rng(7);
  const c = new BenchCluster(ids, storages(), rng);
  while (c.leader() === null) c.tick(rng);
  const leader = c.leader()!;
  const payload = JSON.stringify({ op: 'put', table: 'tasks', id: 'x'.repeat(32), state: 'RUNNING' });
  const started = process.hrtime.bigint();
  let committed = 0;
  for (;;) {
    let last = 0;
    for (let i = 0; i < batch; i++) {
      const r = leader.raft.propose(payload);
      if (!r.ok) throw new Error(r.message);
      last = r.index;
    }
    c.pump();
    if (leader.raft.basicStatus().commit < last) throw new Error('proposal did not commit in one pump');
    committed += batch;
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (elapsedMs >= budgetMs) return Math.round((committed * 1000) / elapsedMs);
    // Keep the memory log short, as the daemon would by compacting.
    if (committed % 5000 < batch) {
      for (const node of c.nodes.values()) {
        const applied = node.raft.basicStatus().applied;
        if (applied > node.storage.firstIndex()) node.storage.compact(applied - 1, '');
      }
    }
  }
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'bicycle-raft-bench-'));
  const sqlite = (): RaftStorage[] =>
    ['n1', 'n2', 'n3'].map((id) => {
      const db = new Database(join(dir, `${id}-${Math.random().toString(36).slice(2)}.db`));
      db.pragma('journal_mode = WAL');
      return new SqliteRaftStorage(db);
    });
  const memory = (): RaftStorage[] => [new MemoryStorage(), new MemoryStorage(), new MemoryStorage()];
  try {
    const f3 = failover(3, 1000);
    const f5 = failover(5, 1000);
    const f3aligned = failover(3, 1000, true);
    const f5aligned = failover(5, 1000, true);
    const rows = {
      memoryUnbatched: throughput(memory, 1, 2000),
      memoryBatched: throughput(memory, 100, 2000),
      sqliteUnbatched: throughput(sqlite, 1, 3000),
      sqliteBatched: throughput(sqlite, 100, 3000),
    };
    const ms = (t: number) => `${t} ticks (${t * TICK_MS} ms)`;
    console.log('Raft figures (tick = 100 ms; heartbeat 1 tick; election timeout 5-9 ticks)');
    console.log('');
    console.log('leader crash -> new leader, 1,000 seeds   median            p99               max');
    console.log(`  3 voters                                ${ms(f3.median).padEnd(18)}${ms(f3.p99).padEnd(20)}${ms(f3.max)}`);
    console.log(`  5 voters                                ${ms(f5.median).padEnd(18)}${ms(f5.p99).padEnd(20)}${ms(f5.max)}`);
    console.log(`  3 voters, timers aligned (worst case)   ${ms(f3aligned.median).padEnd(18)}${ms(f3aligned.p99).padEnd(20)}${ms(f3aligned.max)}`);
    console.log(`  5 voters, timers aligned (worst case)   ${ms(f5aligned.median).padEnd(18)}${ms(f5aligned.p99).padEnd(20)}${ms(f5aligned.max)}`);
    console.log('');
    console.log('committed proposals/s, 3 nodes           1 per cycle       100 per cycle');
    console.log(`  in-memory storage                       ${String(rows.memoryUnbatched).padEnd(18)}${rows.memoryBatched}`);
    console.log(`  SQLite storage (synchronous=FULL)       ${String(rows.sqliteUnbatched).padEnd(18)}${rows.sqliteBatched}`);
    const results = {
      tickMs: TICK_MS,
      timing: { heartbeatTicks: 1, electionTicks: '5-9 (randomized)' },
      failoverTicks: { voters3: f3, voters5: f5, voters3AlignedTimers: f3aligned, voters5AlignedTimers: f5aligned, seeds: 1000 },
      committedPerSecond: rows,
      node: process.version,
      measuredAt: new Date().toISOString(),
    };
    mkdirSync(join(__dirname, '..', '..', 'bench', 'results'), { recursive: true });
    writeFileSync(join(__dirname, '..', '..', 'bench', 'results', 'raft.json'), JSON.stringify(results, null, 2) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
