import type { Db } from './open-database';
import { prepared } from './statements';
import { toTask, type TaskRecord } from './queries';
import { TASK_STATES, type TaskState } from './task-state';

/**
 * Reads of the task table that stay bounded however many tasks there are:
 * counts computed by SQLite, pages of tasks, a service's current tasks with a
 * bounded history. They let the list endpoints answer without holding every
 * task row as an object (docs/rest.md, "Large clusters").
 */

const TERMINAL = "('COMPLETE', 'SHUTDOWN', 'FAILED', 'ORPHANED')";

/** A service's tasks counted: all of them, those running as wanted, and by observed state (states with none left out). */
export interface TaskCounts {
  total: number;
  /** Wanted RUNNING and observed RUNNING: what `running` shows. */
  running: number;
  /** Of those, the ones that serve: healthy, or without a check (task-state.ts isServing). */
  healthy: number;
  byState: Partial<Record<TaskState, number>>;
}

export function emptyCounts(): TaskCounts {
  return { total: 0, running: 0, healthy: 0, byState: {} };
}

/** A task's health as isServing reads it (database/task-state.ts): healthy, or no check, or not reported yet. */
const SERVING_HEALTH = "(health IS NULL OR health IN ('none', 'healthy'))";

/** Counts per service, for every service that has tasks; states in TASK_STATES order. */
export function taskCountsByService(db: Db, serviceName?: string): Map<string, TaskCounts> {
  const rows = (
    serviceName === undefined
      ? prepared(db, `SELECT service_name AS s, state, desired_state = 'RUNNING' AS wanted, ${SERVING_HEALTH} AS serving, count(*) AS n FROM tasks GROUP BY service_name, state, wanted, serving`).all()
      : prepared(db, `SELECT service_name AS s, state, desired_state = 'RUNNING' AS wanted, ${SERVING_HEALTH} AS serving, count(*) AS n FROM tasks WHERE service_name = ? GROUP BY state, wanted, serving`).all(serviceName)
  ) as { s: string; state: TaskState; wanted: number; serving: number; n: number }[];
  const counts = new Map<string, TaskCounts>();
  for (const r of rows) {
    let c = counts.get(r.s);
    if (!c) counts.set(r.s, (c = emptyCounts()));
    c.total += r.n;
    c.byState[r.state] = (c.byState[r.state] ?? 0) + r.n;
    if (r.state === 'RUNNING' && r.wanted === 1) c.running += r.n;
    if (r.state === 'RUNNING' && r.wanted === 1 && r.serving === 1) c.healthy += r.n;
  }
  for (const c of counts.values()) {
    c.byState = Object.fromEntries(TASK_STATES.filter((s) => c.byState[s] !== undefined).map((s) => [s, c.byState[s]]));
  }
  return counts;
}

/** Why each service's latest failed task failed (the error of its most recently updated task with one). */
export function lastErrorByService(db: Db): Map<string, string> {
  // SQLite takes the bare column `error` from the row holding max(updated_at).
  const rows = prepared(db, 'SELECT service_name AS s, error, max(updated_at) AS at FROM tasks WHERE error IS NOT NULL GROUP BY service_name').all() as { s: string; error: string }[];
  return new Map(rows.map((r) => [r.s, r.error]));
}

/** Tasks each node runs or is about to run (wanted RUNNING, not ended), by node id. */
export function liveTaskCountsByNode(db: Db): Map<string, number> {
  const rows = prepared(db, `SELECT node_id AS id, count(*) AS n FROM tasks WHERE node_id IS NOT NULL AND desired_state = 'RUNNING' AND state NOT IN ${TERMINAL} GROUP BY node_id`).all() as { id: string; n: number }[];
  return new Map(rows.map((r) => [r.id, r.n]));
}

/** Where a page of a service's tasks ends: the order is slot, then newest first, then id. */
export interface TaskCursor {
  slot: number;
  createdAt: number;
  id: string;
}

/** The cursor as the API hands it out: opaque, URL-safe. */
export function encodeCursor(task: Pick<TaskRecord, 'slot' | 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([task.slot, task.createdAt, task.id])).toString('base64url');
}

/** The cursor back, or null when `text` is not one encodeCursor made. */
export function decodeCursor(text: string): TaskCursor | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(v) || v.length !== 3) return null;
    const [slot, createdAt, id] = v as unknown[];
    if (!Number.isSafeInteger(slot) || !Number.isSafeInteger(createdAt) || typeof id !== 'string' || id.length > 64) return null;
    return { slot: slot as number, createdAt: createdAt as number, id };
  } catch {
    return null;
  }
}

/**
 * One page of a service's tasks, in the order slot, newest first, id, after
 * `after` (exclusive): keyset pagination, so a walk sees every task that
 * exists throughout it exactly once, whatever is created or removed meanwhile.
 */
export function listTaskPage(db: Db, serviceName: string, after: TaskCursor | null, limit: number): TaskRecord[] {
  if (!after) {
    return prepared(db, 'SELECT * FROM tasks WHERE service_name = ? ORDER BY slot, created_at DESC, id LIMIT ?').all(serviceName, limit).map(toTask);
  }
  return prepared(
    db,
    `SELECT * FROM tasks WHERE service_name = @name
       AND (slot > @slot OR (slot = @slot AND (created_at < @createdAt OR (created_at = @createdAt AND id > @id))))
     ORDER BY slot, created_at DESC, id LIMIT @limit`,
  )
    .all({ name: serviceName, slot: after.slot, createdAt: after.createdAt, id: after.id, limit })
    .map(toTask);
}

/**
 * A service's current tasks (wanted RUNNING, or not ended yet: bounded by its
 * replicas and what is still stopping) and its newest `historyLimit` dead
 * ones (ended, wanted SHUTDOWN); `omitted` counts the dead tasks left out.
 */
export function listCurrentTasks(db: Db, serviceName: string, historyLimit: number): { tasks: TaskRecord[]; omitted: number } {
  const current = prepared(db, `SELECT * FROM tasks WHERE service_name = ? AND (desired_state = 'RUNNING' OR state NOT IN ${TERMINAL})`).all(serviceName).map(toTask);
  const history = prepared(db, `SELECT * FROM tasks WHERE service_name = ? AND desired_state != 'RUNNING' AND state IN ${TERMINAL} ORDER BY updated_at DESC, id LIMIT ?`)
    .all(serviceName, historyLimit)
    .map(toTask);
  let omitted = 0;
  if (history.length === historyLimit) {
    const dead = prepared(db, `SELECT count(*) AS n FROM tasks WHERE service_name = ? AND desired_state != 'RUNNING' AND state IN ${TERMINAL}`).get(serviceName) as { n: number };
    omitted = dead.n - history.length;
  }
  return { tasks: [...current, ...history], omitted };
}

/** Containers in use (a task with a container that has not ended), in service, slot order: at most `limit`. */
export function listLiveContainerTasks(db: Db, limit: number): TaskRecord[] {
  return prepared(db, `SELECT * FROM tasks WHERE container_id IS NOT NULL AND state NOT IN ${TERMINAL} ORDER BY service_name, slot, created_at LIMIT ?`).all(limit).map(toTask);
}

/**
 * Containers in use, counted by service and by node id: two counts, each in
 * its index's order (tasks_by_service, tasks_by_node), rather than one by
 * (service, node), which at a replica per node is a group per task.
 */
export function liveContainerCounts(db: Db): { total: number; byService: Map<string, number>; byNode: Map<string, number> } {
  const live = `container_id IS NOT NULL AND state NOT IN ${TERMINAL}`;
  const services = prepared(db, `SELECT service_name AS k, count(*) AS n FROM tasks WHERE ${live} GROUP BY service_name`).all() as { k: string; n: number }[];
  const nodes = prepared(db, `SELECT node_id AS k, count(*) AS n FROM tasks WHERE node_id IS NOT NULL AND ${live} GROUP BY node_id`).all() as { k: string; n: number }[];
  const byService = new Map(services.map((r) => [r.k, r.n]));
  const byNode = new Map(nodes.map((r) => [r.k, r.n]));
  const total = services.reduce((sum, r) => sum + r.n, 0);
  return { total, byService, byNode };
}

/**
 * A service's tasks as the leader's orchestrator reads them each pass:
 * a task that ended carries no container id, and no error unless it is a
 * failure of the current spec version (an update's verdict names it), since
 * in a crash loop such tasks are most of the rows, each with a 64-character
 * id and a sentence: a pass holds less per row.
 */
export function listTasksForOrchestration(db: Db, serviceName: string): TaskRecord[] {
  return prepared(
    db,
    `SELECT id, service_name, slot, spec_version, node_id, state, desired_state,
       CASE WHEN state IN ${TERMINAL} THEN NULL ELSE container_id END AS container_id,
       CASE WHEN state IN ${TERMINAL} AND NOT (state = 'FAILED' AND spec_version = (SELECT spec_version FROM services WHERE name = tasks.service_name))
         THEN NULL ELSE error END AS error,
       exit_code, started_at, health, created_at, updated_at
     FROM tasks WHERE service_name = ? ORDER BY slot, created_at`,
  )
    .all(serviceName)
    .map(toTask);
}

/** Tasks of one service that hold a place on one node: wanted RUNNING, on the node, not ended. */
export interface PlacedCount {
  serviceName: string;
  nodeId: string;
  tasks: number;
}

/** A task waiting for a node: NEW, wanted RUNNING, on none. */
export interface PendingTask {
  id: string;
  serviceName: string;
  slot: number;
}

/** What the scheduler counts, counted by SQLite: one row per (service, node) with tasks holding a place there. */
export function countPlacedTasks(db: Db): PlacedCount[] {
  return prepared(
    db,
    `SELECT service_name AS serviceName, node_id AS nodeId, count(*) AS tasks FROM tasks
     WHERE node_id IS NOT NULL AND desired_state = 'RUNNING' AND state NOT IN ${TERMINAL}
     GROUP BY service_name, node_id`,
  ).all() as PlacedCount[];
}

/**
 * The node of a service's newest task that has one: where round-robin
 * placed last, as the log records it, so that a new leader continues the
 * ring where the old one stopped.
 */
export function lastPlacedNode(db: Db, serviceName: string): string | undefined {
  const row = prepared(
    db,
    `SELECT node_id AS nodeId FROM tasks WHERE service_name = ? AND node_id IS NOT NULL
     ORDER BY created_at DESC, slot DESC LIMIT 1`,
  ).get(serviceName) as { nodeId: string } | undefined;
  return row?.nodeId;
}

/** What the scheduler places, in service, slot, creation order: only the three columns it reads. */
export function listPendingTasks(db: Db): PendingTask[] {
  return prepared(
    db,
    `SELECT id, service_name AS serviceName, slot FROM tasks
     WHERE node_id IS NULL AND state = 'NEW' AND desired_state = 'RUNNING'
     ORDER BY service_name, slot, created_at, id`,
  ).all() as PendingTask[];
}

/**
 * What the traffic manager routes to: tasks not ended of services that
 * publish ports and are not being deleted (planTraffic looks at no other), so
 * its pass on every node does not hold the whole task table.
 */
export function listRoutableTasks(db: Db): TaskRecord[] {
  return prepared(
    db,
    `SELECT * FROM tasks WHERE state NOT IN ${TERMINAL}
       AND service_name IN (SELECT name FROM services WHERE json_array_length(ports) > 0 AND state NOT IN ('DELETE', 'DELETING'))
     ORDER BY service_name, slot, created_at`,
  )
    .all()
    .map(toTask);
}
