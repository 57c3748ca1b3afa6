import Router from '@koa/router';
import { z } from 'zod';
import { BicycleError } from '../daemon/errors';
import { SESSION_PATH, type SessionAnswer, type SessionTask } from '../daemon/cluster-protocol';
import type { Command } from '../database/commands';
import type { Db } from '../database/open-database';
import { getLocal, getNode } from '../database/queries';
import { prepared } from '../database/statements';
import { errorMessage } from '../daemon/logger';
import type { RestContext } from './context';
import { requirePeer } from './peer-identity';

/** POST SESSION_PATH's body: which worker asks, the index of its last answer, and how long it may wait for a change. */
export const sessionRequestSchema = z.strictObject({
  node: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  after: z.number().int().min(0).optional(),
  waitMs: z.number().int().min(0).max(30_000).optional(),
});

/** What the applied commands change for session workers: every worker's tasks, or these tasks on these nodes, and these tasks wherever they are. */
export interface SessionWakes {
  all: boolean;
  /** Node id → the ids of its tasks placed there. */
  nodes: Map<string, Set<string>>;
  tasks: Set<string>;
}

function placed(into: SessionWakes, nodeId: string, taskId: string): void {
  let ids = into.nodes.get(nodeId);
  if (!ids) into.nodes.set(nodeId, (ids = new Set()));
  ids.add(taskId);
}

/**
 * Which session workers' answers a command may change. A task placed or
 * moved names its node; a task stopped, moved to another slot or removed
 * names the task (its node is looked up); a change of a service or a secret
 * (a spec, a deletion that removes its tasks with it) or a node's removal
 * may touch any worker. A worker's own reports (`task.observe`) wake nobody:
 * it knows what it said. Pure.
 */
export function sessionWakes(command: Command, into: SessionWakes = { all: false, nodes: new Map(), tasks: new Set() }): SessionWakes {
  switch (command.type) {
    case 'batch':
      for (const c of command.commands) sessionWakes(c, into);
      break;
    case 'task.create':
      if (command.nodeId) placed(into, command.nodeId, command.id);
      break;
    case 'task.assign':
      placed(into, command.nodeId, command.taskId);
      break;
    case 'task.set-desired':
    case 'task.set-slot':
    case 'task.remove':
      into.tasks.add(command.taskId);
      break;
    case 'node.remove':
    case 'service.create':
    case 'service.update':
    case 'service.rollback':
    case 'service.delete':
    case 'service.remove':
    case 'service.set-state':
    case 'service.rebalance':
    case 'secret.create':
    case 'secret.update':
    case 'secret.remove':
      into.all = true;
      break;
    default:
      break;
  }
  return into;
}

/** A worker is answered a change at most this often: the entries of a large placement come to it as one answer, not one per entry. */
const ANSWER_GAP_MS = 250;

/** Changes kept per worker that has not asked for them; beyond, its next answer lists all its tasks. */
const MAX_RECORDED_CHANGES = 20_000;

interface Waiter {
  after: number;
  resolve(changed?: boolean): void;
}

/**
 * The REST thread's side of worker sessions: it tells each waiting worker
 * when an applied entry changed its tasks (from the log entries applied
 * since it last looked, without reading any worker's tasks), and gathers
 * the workers heard from into one `seen` request to the voting thread a
 * second, which the leader counts for host-loss detection.
 */
export class SessionHub {
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** Each worker's tasks changed since it last asked: task id → the applied index it changed by; `since`: complete from that index on. */
  private readonly changes = new Map<string, { since: number; tasks: Map<string, number> }>();
  /** When each worker was last answered with a change (ms), so that a stream of entries comes as one answer per ANSWER_GAP_MS. */
  private readonly answeredAt = new Map<string, number>();
  /** The applied index from which everyone's record is complete (a change that may touch any worker resets it). */
  private everyone: number;
  private looked: number;
  private readonly seen = new Set<string>();
  private readonly timers: NodeJS.Timeout[];
  private sendingSeen = false;

  constructor(private readonly db: Db, private readonly reportSeen: (nodeIds: string[]) => Promise<unknown>, private readonly log?: RestContext['log'], tickMs = 50) {
    this.looked = appliedIndex(db);
    this.everyone = this.looked;
    this.timers = [setInterval(() => this.tick(), tickMs), setInterval(() => this.flushSeen(), 1000)];
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const set of this.waiters.values()) for (const w of set) w.resolve();
    this.waiters.clear();
  }

  /** The applied index an answer read now is at: every change up to it has been looked at. */
  index(): number {
    this.tick();
    return this.looked;
  }

  /**
   * The ids of `nodeId`'s tasks that changed after `after` (placed on it,
   * stopped, moved), or null when the record does not go back that far and
   * the worker needs all of them. Forgets what the worker has now seen.
   */
  changedSince(nodeId: string, after: number): string[] | null {
    this.tick();
    const record = this.changes.get(nodeId);
    if (after < Math.max(record?.since ?? this.everyone, this.everyone)) return null;
    if (!record) return [];
    const ids: string[] = [];
    for (const [id, index] of record.tasks) {
      if (index > after) ids.push(id);
      else record.tasks.delete(id);
    }
    return ids;
  }

  /** How long to hold a change back from `nodeId`, so that it is answered at most once per ANSWER_GAP_MS. */
  holdMs(nodeId: string, now = Date.now()): number {
    return Math.max(0, (this.answeredAt.get(nodeId) ?? 0) + ANSWER_GAP_MS - now);
  }

  answered(nodeId: string, now = Date.now()): void {
    this.answeredAt.set(nodeId, now);
  }

  heardFrom(nodeId: string): void {
    this.seen.add(nodeId);
  }

  /** Whether `nodeId`'s tasks may have changed after index `after`, waiting up to `waitMs` for a change. */
  async waitForChange(nodeId: string, after: number, waitMs: number): Promise<boolean> {
    this.tick();
    if (this.lastChange(nodeId) > after) return true;
    if (waitMs === 0) return false;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        after,
        resolve: (changed = true) => {
          clearTimeout(timer);
          this.waiters.get(nodeId)?.delete(waiter);
          resolve(changed);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), waitMs);
      let set = this.waiters.get(nodeId);
      if (!set) this.waiters.set(nodeId, (set = new Set()));
      set.add(waiter);
    });
  }

  private lastChange(nodeId: string): number {
    let last = this.everyone;
    for (const index of this.changes.get(nodeId)?.tasks.values() ?? []) if (index > last) last = index;
    return last;
  }

  /** Reads the entries applied since the last look and wakes the workers whose tasks they changed. */
  private tick(): void {
    if (!this.db.open) return this.stop();
    const applied = appliedIndex(this.db);
    if (applied <= this.looked) return;
    const from = this.looked;
    this.looked = applied;
    const rows = prepared(this.db, 'SELECT log_index AS i, type, data FROM raft_entries WHERE log_index > ? AND log_index <= ? ORDER BY log_index').all(from, applied) as { i: number; type: string; data: string }[];
    const wakes: SessionWakes = { all: rows.length !== applied - from, nodes: new Map(), tasks: new Set() };
    for (const row of rows) {
      if (wakes.all) break;
      if (row.type !== 'normal') continue;
      try {
        sessionWakes(JSON.parse(row.data) as Command, wakes);
      } catch {
        wakes.all = true;
      }
    }
    if (!wakes.all) {
      const nodeOf = prepared(this.db, 'SELECT node_id FROM tasks WHERE id = ?').pluck();
      for (const taskId of wakes.tasks) {
        const nodeId = nodeOf.get(taskId) as string | null | undefined;
        if (nodeId === undefined) wakes.all = true;
        else if (nodeId !== null) placed(wakes, nodeId, taskId);
      }
    }
    if (wakes.all) {
      this.everyone = applied;
      this.changes.clear();
      for (const set of this.waiters.values()) for (const w of [...set]) w.resolve();
      return;
    }
    for (const [nodeId, taskIds] of wakes.nodes) {
      let record = this.changes.get(nodeId);
      if (!record) this.changes.set(nodeId, (record = { since: this.everyone, tasks: new Map() }));
      for (const id of taskIds) record.tasks.set(id, applied);
      // A worker that stopped asking: its record is dropped past a bound, and its next answer lists all its tasks.
      if (record.tasks.size > MAX_RECORDED_CHANGES) this.changes.set(nodeId, { since: applied, tasks: new Map() });
      for (const w of [...(this.waiters.get(nodeId) ?? [])]) if (applied > w.after) w.resolve();
    }
  }

  private flushSeen(): void {
    if (!this.db.open) return this.stop();
    if (this.seen.size === 0 || this.sendingSeen) return;
    const nodeIds = [...this.seen];
    this.seen.clear();
    this.sendingSeen = true;
    this.reportSeen(nodeIds)
      .catch((error: unknown) => this.log?.debug('could not pass on the session workers heard from', { error: errorMessage(error) }))
      .finally(() => (this.sendingSeen = false));
  }
}

function appliedIndex(db: Db): number {
  return prepared(db, "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM local_state WHERE key = 'applied_index'), 0)").pluck().get() as number;
}

const TASK_COLUMNS = 'id, node_id, service_name, slot, spec_version, state, desired_state, container_id';

/**
 * A worker's tasks as its session answers them, and the specs they run,
 * read from this manager's database: all of them, or (`changed`) those of
 * these ids still on it, the others `gone` (moved to another node or removed).
 */
export function sessionAnswer(db: Db, nodeId: string, index: number, changed: readonly string[] | null = null): SessionAnswer {
  const gone: string[] = [];
  let rows: any[];
  if (changed === null) {
    rows = prepared(db, `SELECT ${TASK_COLUMNS} FROM tasks WHERE node_id = ? ORDER BY id`).all(nodeId) as any[];
  } else {
    const byId = prepared(db, `SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ?`);
    rows = [];
    for (const id of changed) {
      const row = byId.get(id) as any;
      if (row && row.node_id === nodeId) rows.push(row);
      else gone.push(id);
    }
  }
  const tasks: SessionTask[] = rows.map((r) => ({ id: r.id, service: r.service_name, slot: r.slot, specVersion: r.spec_version, state: r.state, desiredState: r.desired_state, containerId: r.container_id }));
  const specs: SessionAnswer['specs'] = {};
  const spec = prepared(db, 'SELECT spec FROM service_versions WHERE service_name = ? AND spec_version = ?').pluck();
  for (const t of tasks) {
    const key = `${t.service}@${t.specVersion}`;
    if (specs[key] !== undefined) continue;
    const text = spec.get(t.service, t.specVersion) as string | undefined;
    specs[key] = text === undefined ? null : JSON.parse(text);
  }
  return { index, leader: leaderOf(db), changed: true, full: changed === null, tasks, ...(changed === null ? {} : { gone }), specs };
}

function leaderOf(db: Db): SessionAnswer['leader'] {
  const leaderId = getLocal(db, 'leader_id');
  const leader = leaderId ? getNode(db, leaderId) : undefined;
  return leader ? { id: leader.id, address: leader.address } : null;
}

/**
 * Worker sessions (docs/scale.md): a worker that joined with link
 * "session" is not a Raft member; it asks a manager here for its tasks, and
 * each ask counts as its heartbeat. With `after` (the index of its last
 * answer) the ask waits up to `waitMs` for a change of its tasks, and says
 * `changed: false` without listing them when none came. Its
 * reports go to the leader as proposals (VOTING_PATH), as a learner's do.
 */
export function sessionsRouter(ctx: RestContext): Router {
  const router = new Router();
  // Made at the first ask: a manager no session worker talks to runs no timers for them.
  let made: SessionHub | undefined;
  const sessionHub = () => (made ??= new SessionHub(ctx.db, (nodeIds) => ctx.voting.raw({ kind: 'seen', nodeIds, forwarded: false }), ctx.log));
  router.post(SESSION_PATH, requirePeer(ctx.db), async (k) => {
    const parsed = sessionRequestSchema.safeParse(k.request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new BicycleError('INVALID_ARGUMENT', `session request: ${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const { node: nodeId, after, waitMs } = parsed.data;
    const peerNodeId = k.state.peerNodeId as string | undefined;
    if (peerNodeId !== undefined && peerNodeId !== nodeId) throw new BicycleError('PERMISSION_DENIED', `this certificate is ${peerNodeId}'s: a worker asks for its own tasks only`);
    const node = getNode(ctx.db, nodeId);
    if (!node) throw new BicycleError('NODE_NOT_FOUND', `no member with id ${nodeId} (join first, with link "session")`);
    if (node.link !== 'session') throw new BicycleError('INVALID_ARGUMENT', `${node.name} is a Raft ${node.role === 'manager' ? 'voter' : 'learner'}: it reads its tasks from its own log, not from a session`);
    const hub = sessionHub();
    hub.heardFrom(nodeId);
    // Nothing changed for it: the answer says so, and the worker keeps what it has (as of `after`).
    if (after !== undefined && !(await hub.waitForChange(nodeId, after, waitMs ?? 0))) {
      k.body = { index: after, leader: leaderOf(ctx.db), changed: false } satisfies SessionAnswer;
      return;
    }
    const hold = hub.holdMs(nodeId);
    if (hold > 0) await new Promise((r) => setTimeout(r, hold));
    hub.answered(nodeId);
    // The index first, then the rows: a change applied in between is in the rows and comes again in the next answer, never missed.
    const index = hub.index();
    k.body = sessionAnswer(ctx.db, nodeId, index, after === undefined ? null : hub.changedSince(nodeId, after));
  });
  return router;
}
