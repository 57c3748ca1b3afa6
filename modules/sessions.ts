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

/** What the applied commands change for session workers: every worker's tasks, or those of these nodes and of the nodes these tasks are on. */
export interface SessionWakes {
  all: boolean;
  nodes: Set<string>;
  tasks: Set<string>;
}

/**
 * Which session workers' answers a command may change. A task placed or
 * moved names its node; a task stopped, moved to another slot or removed
 * names the task (its node is looked up); a change of a service or a secret
 * (a spec, a deletion that removes its tasks with it) or a node's removal
 * may touch any worker. A worker's own reports (`task.observe`) wake nobody:
 * it knows what it said. Pure.
 */
export function sessionWakes(command: Command, into: SessionWakes = { all: false, nodes: new Set(), tasks: new Set() }): SessionWakes {
  switch (command.type) {
    case 'batch':
      for (const c of command.commands) sessionWakes(c, into);
      break;
    case 'task.create':
      if (command.nodeId) into.nodes.add(command.nodeId);
      break;
    case 'task.assign':
      into.nodes.add(command.nodeId);
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
  /** The last applied index at which each worker's tasks changed; `everyone`: at which all may have. */
  private readonly changedAt = new Map<string, number>();
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

  /** The applied index an answer read now is at. */
  index(): number {
    return appliedIndex(this.db);
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
    return Math.max(this.changedAt.get(nodeId) ?? 0, this.everyone);
  }

  /** Reads the entries applied since the last look and wakes the workers whose tasks they changed. */
  private tick(): void {
    if (!this.db.open) return this.stop();
    const applied = appliedIndex(this.db);
    if (applied <= this.looked) return;
    const from = this.looked;
    this.looked = applied;
    const rows = prepared(this.db, 'SELECT log_index AS i, type, data FROM raft_entries WHERE log_index > ? AND log_index <= ? ORDER BY log_index').all(from, applied) as { i: number; type: string; data: string }[];
    const wakes: SessionWakes = { all: rows.length !== applied - from, nodes: new Set(), tasks: new Set() };
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
        else if (nodeId !== null) wakes.nodes.add(nodeId);
      }
    }
    if (wakes.all) {
      this.everyone = applied;
      this.changedAt.clear();
      for (const set of this.waiters.values()) for (const w of [...set]) w.resolve();
      return;
    }
    for (const nodeId of wakes.nodes) {
      this.changedAt.set(nodeId, applied);
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

/** A worker's tasks as its session answers them, and the specs they run, read from this manager's database. */
export function sessionAnswer(db: Db, nodeId: string, index: number): SessionAnswer {
  const rows = prepared(db, 'SELECT id, service_name, slot, spec_version, state, desired_state, container_id FROM tasks WHERE node_id = ? ORDER BY id').all(nodeId) as any[];
  const tasks: SessionTask[] = rows.map((r) => ({ id: r.id, service: r.service_name, slot: r.slot, specVersion: r.spec_version, state: r.state, desiredState: r.desired_state, containerId: r.container_id }));
  const specs: SessionAnswer['specs'] = {};
  const spec = prepared(db, 'SELECT spec FROM service_versions WHERE service_name = ? AND spec_version = ?').pluck();
  for (const t of tasks) {
    const key = `${t.service}@${t.specVersion}`;
    if (specs[key] !== undefined) continue;
    const text = spec.get(t.service, t.specVersion) as string | undefined;
    specs[key] = text === undefined ? null : JSON.parse(text);
  }
  return { index, leader: leaderOf(db), changed: true, tasks, specs };
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
    k.body = sessionAnswer(ctx.db, nodeId, hub.index());
  });
  return router;
}
