import type { Statement } from 'better-sqlite3';
import type { Command } from './commands';
import type { Db } from './open-database';
import { prepared } from './statements';

/**
 * Local values the REST reads show besides the replicated rows: the leader
 * and term it knows, its own id, its pre-pull status, its store. Other keys
 * of local_state (leader_contact_at, written every few hundred ms) change no
 * answer.
 */
const SHOWN_LOCAL_KEYS = ['leader_id', 'term', 'node_id', 'prepull', 'store'];

/**
 * Commands whose apply writes no task and no service row (database/apply-command.ts):
 * a node's own fields, tokens. The leader's `node.seen`, every few seconds, is one.
 */
const TASKLESS_COMMANDS: ReadonlySet<string> = new Set([
  'node.register', 'node.set-status', 'node.set-availability', 'node.set-role', 'node.set-labels', 'node.set-facts', 'node.seen',
  'token.create', 'token.remove', 'cluster.rotate-join-token',
]);

/** An entry larger than this is taken to change tasks unread: a large entry is a batch of task changes. */
const MAX_CLASSIFIED_CHARS = 64 * 1024;

/** Where the rows behind the REST reads stand: `all` changes with any of them, `tasks` only with the task and service rows. */
export interface ReadVersion {
  all: number;
  tasks: number;
}

interface Tracker {
  dataVersion: Statement;
  ownChanges: Statement;
  fingerprint: Statement;
  appliedIndex: Statement;
  /** The log's entries in (after, through], as far as it still holds them. */
  entries: Statement;
  lastDataVersion: number;
  lastApplied: number;
  lastOwnChanges: number;
  lastFingerprint: string | null;
  version: ReadVersion;
}

const trackers = new WeakMap<Db, Tracker>();

function tracker(db: Db): Tracker {
  let t = trackers.get(db);
  if (!t) {
    t = {
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      ownChanges: db.prepare('SELECT total_changes()').pluck(),
      fingerprint: db
        .prepare(
          `SELECT coalesce((SELECT group_concat(key || '=' || value, char(10)) FROM (SELECT key, value FROM local_state WHERE key IN (${SHOWN_LOCAL_KEYS.map(() => '?').join(', ')}) ORDER BY key)), '')
             || char(10) || coalesce((SELECT value FROM meta WHERE key = 'cluster_id'), '')`,
        )
        .pluck(),
      appliedIndex: db.prepare("SELECT coalesce((SELECT CAST(value AS INTEGER) FROM local_state WHERE key = 'applied_index'), 0)").pluck(),
      entries: db.prepare('SELECT log_index AS i, type, CASE WHEN length(data) <= ? THEN data END AS data FROM raft_entries WHERE log_index > ? AND log_index <= ? ORDER BY log_index'),
      lastDataVersion: -1,
      lastApplied: -1,
      lastOwnChanges: -1,
      lastFingerprint: null,
      version: { all: 0, tasks: 0 },
    };
    trackers.set(db, t);
  }
  return t;
}

/** Whether every command of an applied entry's JSON is one of TASKLESS_COMMANDS. */
function taskless(data: string): boolean {
  const visit = (c: Command): boolean => (c.type === 'batch' ? c.commands.every(visit) : TASKLESS_COMMANDS.has(c.type));
  try {
    return visit(JSON.parse(data) as Command);
  } catch {
    return false;
  }
}

/**
 * What the entries applied in (after, through] changed: nothing (Raft's own
 * entries: membership as each node joins, a new leader's no-op; the state
 * machine applies no command for them), only rows other than tasks and
 * services, or possibly tasks. An entry the log no longer holds (compacted,
 * or a snapshot restored) or too large to read counts as changing tasks.
 */
function appliedChanges(t: Tracker, after: number, through: number): 'none' | 'taskless' | 'tasks' {
  if (after < 0 || through < after) return 'tasks';
  const rows = t.entries.all(MAX_CLASSIFIED_CHARS, after, through) as { i: number; type: string; data: string | null }[];
  if (rows.length !== through - after) return 'tasks';
  let changed: 'none' | 'taskless' = 'none';
  for (const row of rows) {
    if (row.type !== 'normal') continue;
    if (row.data === null || !taskless(row.data)) return 'tasks';
    changed = 'taskless';
  }
  return changed;
}

/**
 * Numbers that change whenever the rows behind the REST reads may have
 * changed, and stay the same otherwise, so that answers computed from those
 * rows can be kept and shared by every reader until then: `tasks` for what
 * is derived from the task and service rows (counts, pages), `all` for the
 * rest too (nodes, the leader, this node's pre-pull status).
 *
 * Cheap when nothing was written (two pragmas). When another connection has
 * committed (SQLite's data_version), it compares what the reads depend on:
 * the applied index, which the state machine records in the same
 * transaction as every replicated change it applies (or restores from a
 * snapshot; nothing else writes the replicated tables), the local values in
 * SHOWN_LOCAL_KEYS and the cluster id. So the voting thread's own
 * bookkeeping (the leader contact time, the Raft log, the hard state) keeps
 * the answers; so do Raft's own entries (membership, no-op), and entries of
 * node-only commands (the leader's node.seen every few seconds) keep
 * `tasks`, when the log still holds them to tell. A write on this
 * connection itself always counts as a change of both. Container stats are
 * not covered: they are read per request.
 */
export function readVersion(db: Db): ReadVersion {
  const t = tracker(db);
  const dataVersion = t.dataVersion.get() as number;
  const ownChanges = t.ownChanges.get() as number;
  if (dataVersion === t.lastDataVersion && ownChanges === t.lastOwnChanges) return t.version;
  const fingerprint = t.fingerprint.get(...SHOWN_LOCAL_KEYS) as string;
  const applied = t.appliedIndex.get() as number;
  const changes = ownChanges !== t.lastOwnChanges ? 'tasks' : applied === t.lastApplied ? 'none' : appliedChanges(t, t.lastApplied, applied);
  if (changes === 'tasks') t.version = { all: t.version.all + 1, tasks: t.version.tasks + 1 };
  else if (changes === 'taskless' || fingerprint !== t.lastFingerprint) t.version = { all: t.version.all + 1, tasks: t.version.tasks };
  t.lastApplied = applied;
  t.lastDataVersion = dataVersion;
  t.lastOwnChanges = ownChanges;
  t.lastFingerprint = fingerprint;
  return t.version;
}

/** Changes with every stats sample this node records (container_stats: this node's containers only, so small). */
export function containerStatsVersion(db: Db): string {
  return (prepared(db, "SELECT count(*) || ':' || coalesce(max(sampled_at), 0) AS v FROM container_stats").get() as { v: string }).v;
}
