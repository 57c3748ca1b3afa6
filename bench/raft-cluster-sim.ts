/**
 * Three (or more) managers in one process for bench/scheduler-raft.ts: each a
 * real Raft core with SqliteRaftStorage and SqliteStateMachine on its own
 * SQLite file, joined by an in-memory message pump. Messages are handed over
 * as the same objects (no serialisation, no latency): the network is not what
 * is measured. The pump drives the Ready contract exactly as the voting
 * thread does (daemon/voting/cluster-node.ts): persist, send, apply, advance.
 * Everything runs on one thread, so the three managers' disk writes and
 * applies are summed in the wall time, not overlapped as on three hosts.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase, type Db } from '../database/open-database';
import { Raft, SqliteRaftStorage, type Message, type Ready } from '../daemon/voting/raft/index';
import { SqliteStateMachine } from '../daemon/voting/state-machine';

export interface SimManager {
  id: string;
  db: Db;
  storage: SqliteRaftStorage;
  machine: SqliteStateMachine;
  raft: Raft;
  /** Time spent in storage.save (the Raft log, synchronous = FULL), ms. */
  saveMs: number;
  /** Time spent applying committed entries to the entity tables, ms. */
  applyMs: number;
  entriesApplied: number;
}

export class SimCluster {
  readonly managers: SimManager[];
  private readonly byId = new Map<string, SimManager>();
  private queue: Message[] = [];
  messages = 0;

  /** `cacheStatements`: an experiment, see cacheStatements() below; off means the daemon's code as it is. */
  constructor(dir: string, count = 3, cacheStatements = false) {
    const ids = Array.from({ length: count }, (_, i) => `m${i + 1}`);
    let seed = 12345;
    this.managers = ids.map((id) => {
      const db = openDatabase(join(dir, `${id}.db`), { migrate: true });
      if (cacheStatements) cacheStatementsOn(db);
      const storage = new SqliteRaftStorage(db); // sets synchronous = FULL on this connection
      const machine = new SqliteStateMachine(db);
      const raft = new Raft({
        id,
        storage,
        peers: ids,
        applied: machine.appliedIndex(),
        // Seeded, so the same manager wins the first election every run.
        random: () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31),
      });
      const m: SimManager = { id, db, storage, machine, raft, saveMs: 0, applyMs: 0, entriesApplied: 0 };
      this.byId.set(id, m);
      return m;
    });
  }

  leader(): SimManager | undefined {
    return this.managers.find((m) => m.raft.basicStatus().role === 'leader');
  }

  /** Ticks every manager until one leads and every manager knows it. */
  elect(): SimManager {
    for (let i = 0; i < 200; i++) {
      this.tick();
      const leader = this.leader();
      if (leader && this.managers.every((m) => m.raft.basicStatus().leader === leader.id)) return leader;
    }
    throw new Error('no leader after 200 ticks');
  }

  tick(): void {
    for (const m of this.managers) m.raft.tick();
    this.pump();
  }

  /** Runs the Ready contract on every manager and delivers messages until nothing is left to do. */
  pump(): void {
    for (;;) {
      let progressed = false;
      for (const m of this.managers) {
        while (m.raft.hasReady()) {
          this.handleReady(m, m.raft.ready());
          progressed = true;
        }
      }
      if (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        this.messages += batch.length;
        for (const msg of batch) this.byId.get(msg.to)?.raft.step(msg);
        progressed = true;
      }
      if (!progressed) return;
    }
  }

  private handleReady(m: SimManager, rd: Ready): void {
    let t = performance.now();
    m.storage.save(rd.hardState, rd.entries, rd.snapshot);
    m.saveMs += performance.now() - t;
    for (const msg of rd.messages) this.queue.push(msg);
    if (rd.snapshot) m.machine.restore(rd.snapshot);
    if (rd.committedEntries.length > 0) {
      t = performance.now();
      m.machine.apply(rd.committedEntries);
      m.applyMs += performance.now() - t;
      m.entriesApplied += rd.committedEntries.length;
    }
    m.raft.advance(rd);
  }

  /** Proposes on the leader; throws if it refuses. */
  propose(data: string): void {
    const leader = this.leader();
    if (!leader) throw new Error('no leader to propose to');
    const r = leader.raft.propose(data);
    if (!r.ok) throw new Error(`proposal refused: ${r.code} ${r.message}`);
  }

  /** True when every manager has applied everything the leader has in its log. */
  settled(): boolean {
    const leader = this.leader();
    if (!leader) return false;
    const last = leader.raft.basicStatus().lastIndex;
    return this.managers.every((m) => m.raft.basicStatus().applied === last);
  }

  close(): void {
    for (const m of this.managers) m.db.close();
  }
}

/**
 * An experiment, not the daemon's behaviour: makes `db.prepare` return the
 * statement it compiled before for the same SQL. applyCommand and the
 * queries call `db.prepare` for every command (SAVEPOINT, RELEASE, the
 * lookups, the UPDATE); better-sqlite3 compiles each call afresh. Used to
 * show what caching the statements in database/apply-command.ts would save.
 * Safe here because no statement is iterated while it is reused.
 */
export function cacheStatementsOn(db: Db): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, ReturnType<Db['prepare']>>();
  (db as { prepare: (sql: string) => ReturnType<Db['prepare']> }).prepare = (sql: string) => {
    let stmt = cache.get(sql);
    if (stmt === undefined) cache.set(sql, (stmt = prepare(sql)));
    return stmt;
  };
}
