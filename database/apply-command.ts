import type { Db } from './open-database';
import { prepared } from './statements';
import type { Command, ServiceChanges } from './commands';
import { IllegalTransitionError, transitionTask, type TaskState } from './task-state';
import { isServiceDeleting, transitionService, type ServiceState } from './service-state';
import { transitionNodeStatus, type NodeStatus } from './node-state';
import { BicycleError, type ErrorData } from '../daemon/errors';
import { portsJson, requirePortsFree } from './ports';
import { requireReplicasWithinLimit } from './replica-limit';

export type ApplyResult = { ok: true; changed: boolean } | { ok: false; error: ErrorData };

/** The tables a command touched, for the "changed: <table>" notes. */
export type Table = 'nodes' | 'services' | 'tasks' | 'meta' | 'applied_requests';

/**
 * Applies one committed command to the replicated tables. Deterministic: the
 * same command on the same rows gives the same rows on every node, whatever
 * the time or the node. A command that is refused (an illegal transition, a
 * duplicate name) changes nothing and answers `{ ok: false, error }`; it is
 * still committed, so every node refuses it alike. Must run inside the
 * caller's transaction (the one that records the applied index).
 */
export function applyCommand(db: Db, command: Command, touched: Set<Table> = new Set()): ApplyResult {
  if (command.type === 'batch') {
    let changed = false;
    for (const inner of command.commands) {
      const result = applyCommand(db, inner, touched);
      if (result.ok) changed ||= result.changed;
    }
    return { ok: true, changed };
  }
  const savepoint = prepared(db, 'SAVEPOINT apply_one');
  savepoint.run();
  try {
    const changed = applyOne(db, command, touched);
    prepared(db, 'RELEASE apply_one').run();
    return { ok: true, changed };
  } catch (error) {
    prepared(db, 'ROLLBACK TO apply_one').run();
    prepared(db, 'RELEASE apply_one').run();
    if (error instanceof IllegalTransitionError) {
      return { ok: false, error: { code: 'ILLEGAL_TRANSITION', message: error.message } };
    }
    // Code and message only: a refusal is an answer every node gives alike, not a fault with a stack.
    if (error instanceof BicycleError) return { ok: false, error: { code: error.code, message: error.message } };
    throw error;
  }
}

function applyOne(db: Db, c: Exclude<Command, { type: 'batch' }>, touched: Set<Table>): boolean {
  switch (c.type) {
    case 'cluster.init': {
      touched.add('meta');
      const existing = prepared(db, "SELECT value FROM meta WHERE key = 'cluster_id'").get() as { value: string } | undefined;
      if (existing) return false;
      const insert = prepared(db, 'INSERT INTO meta (key, value) VALUES (?, ?)');
      insert.run('cluster_id', c.clusterId);
      insert.run('cluster_secret', c.secret);
      insert.run('join_token', c.joinToken);
      return true;
    }
    case 'node.register': {
      touched.add('nodes');
      const n = c.node;
      const clash = prepared(db, 'SELECT id FROM nodes WHERE name = ? AND id != ?').get(n.name, n.id);
      if (clash) throw new BicycleError('INVALID_ARGUMENT', `node name ${n.name} is already taken by another node`);
      const result = db
        .prepare(
          `INSERT INTO nodes (id, name, address, role, status, availability, started_at, last_seen_at, created_at, updated_at)
           VALUES (@id, @name, @address, @role, 'READY', 'active', @startedAt, @at, @at, @at)
           ON CONFLICT(id) DO UPDATE SET name = @name, address = @address, role = @role, status = 'READY',
             started_at = @startedAt, last_seen_at = @at, updated_at = @at`,
        )
        .run({ ...n, at: c.at });
      return result.changes > 0;
    }
    case 'node.set-status': {
      touched.add('nodes');
      const node = requireNode(db, c.nodeId);
      if (node.status === c.status) return false;
      transitionNodeStatus(node.status as NodeStatus, c.status);
      prepared(db, 'UPDATE nodes SET status = ?, updated_at = ?, last_seen_at = CASE WHEN ? = \'READY\' THEN ? ELSE last_seen_at END WHERE id = ?')
        .run(c.status, c.at, c.status, c.at, c.nodeId);
      return true;
    }
    case 'node.set-availability': {
      touched.add('nodes');
      const node = requireNode(db, c.nodeId);
      if (node.availability === c.availability) return false;
      prepared(db, 'UPDATE nodes SET availability = ?, updated_at = ? WHERE id = ?').run(c.availability, c.at, c.nodeId);
      return true;
    }
    case 'node.set-role': {
      touched.add('nodes');
      requireNode(db, c.nodeId);
      return prepared(db, 'UPDATE nodes SET role = ?, updated_at = ? WHERE id = ? AND role != ?').run(c.role, c.at, c.nodeId, c.role).changes > 0;
    }
    case 'node.seen': {
      touched.add('nodes');
      const update = prepared(db, 'UPDATE nodes SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?');
      let changed = false;
      for (const [id, at] of Object.entries(c.seen)) changed = update.run(at, id, at).changes > 0 || changed;
      return changed;
    }
    case 'node.remove': {
      touched.add('nodes');
      return prepared(db, 'DELETE FROM nodes WHERE id = ?').run(c.nodeId).changes > 0;
    }
    case 'service.create': {
      touched.add('services');
      if (prepared(db, 'SELECT 1 FROM services WHERE name = ?').get(c.name)) {
        throw new BicycleError('SERVICE_EXISTS', `a service named ${c.name} already exists`);
      }
      // Commands committed before ports existed carry none.
      const ports = c.spec.ports ?? [];
      requirePortsFree(db, c.name, ports);
      if (c.maxReplicas !== undefined) requireReplicasWithinLimit(db, c.name, c.replicas, c.maxReplicas);
      prepared(db, 
        `INSERT INTO services (name, id, image, command, env, labels, ports, on_disconnect, replicas, state, version, spec_version, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'NEW', 1, 1, ?, ?)`,
      ).run(c.name, c.id, c.spec.image, c.spec.command ? JSON.stringify(c.spec.command) : null,
        canonicalJson(c.spec.env), canonicalJson(c.spec.labels), portsJson(ports), c.spec.onDisconnect ?? null, c.replicas, c.at, c.at);
      return true;
    }
    case 'service.update': {
      touched.add('services');
      const service = requireService(db, c.name);
      if (isServiceDeleting(service.state)) {
        throw new BicycleError('SERVICE_DELETING', `service ${c.name} is being deleted and can no longer be updated`);
      }
      if (c.maxReplicas !== undefined && c.changes.replicas !== undefined) {
        requireReplicasWithinLimit(db, c.name, c.changes.replicas, c.maxReplicas, service.replicas);
      }
      return updateService(db, service, c.changes, c.at);
    }
    case 'service.delete': {
      touched.add('services');
      const service = requireService(db, c.name);
      if (isServiceDeleting(service.state)) return false;
      transitionService(service.state, 'DELETE');
      prepared(db, "UPDATE services SET state = 'DELETE', version = version + 1, updated_at = ? WHERE name = ?").run(c.at, c.name);
      return true;
    }
    case 'service.set-state': {
      touched.add('services');
      const service = requireService(db, c.name);
      if (service.state === c.state || service.version !== c.version) return false;
      transitionService(service.state, c.state);
      prepared(db, 'UPDATE services SET state = ?, updated_at = ? WHERE name = ?').run(c.state, c.at, c.name);
      return true;
    }
    case 'service.rebalance': {
      touched.add('services');
      const service = requireService(db, c.name);
      if (isServiceDeleting(service.state)) return false;
      return prepared(db, 'UPDATE services SET rebalance = ?, updated_at = ? WHERE name = ? AND rebalance != ?').run(c.requested ? 1 : 0, c.at, c.name, c.requested ? 1 : 0).changes > 0;
    }
    case 'service.remove': {
      touched.add('services');
      touched.add('tasks');
      const service = requireService(db, c.name);
      if (service.state !== 'DELETING') throw new IllegalTransitionError('service', service.state, 'removed');
      prepared(db, 'DELETE FROM tasks WHERE service_name = ?').run(c.name);
      prepared(db, 'DELETE FROM services WHERE name = ?').run(c.name);
      return true;
    }
    case 'task.create': {
      touched.add('tasks');
      requireService(db, c.serviceName);
      const result = db
        .prepare(
          `INSERT INTO tasks (id, service_name, slot, spec_version, node_id, state, desired_state, created_at, updated_at)
           VALUES (?, ?, ?, ?, NULL, 'NEW', 'RUNNING', ?, ?) ON CONFLICT(id) DO NOTHING`,
        )
        .run(c.id, c.serviceName, c.slot, c.specVersion, c.at, c.at);
      return result.changes > 0;
    }
    case 'task.assign': {
      touched.add('tasks');
      const task = requireTask(db, c.taskId);
      requireNode(db, c.nodeId);
      if (task.node_id === c.nodeId) return false;
      if (task.state !== 'NEW') throw new IllegalTransitionError('task', `${task.state} on ${task.node_id}`, `ASSIGNED to ${c.nodeId}`);
      transitionTask(task.state, 'ASSIGNED');
      prepared(db, "UPDATE tasks SET node_id = ?, state = 'ASSIGNED', updated_at = ? WHERE id = ?").run(c.nodeId, c.at, c.taskId);
      return true;
    }
    case 'task.observe': {
      touched.add('tasks');
      const task = prepared(db, 'SELECT * FROM tasks WHERE id = ?').get(c.taskId) as TaskRow | undefined;
      // A report about a task the orchestrator already removed is stale, not an error.
      if (!task) return false;
      const state = transitionTask(task.state, c.state);
      prepared(db, 
        `UPDATE tasks SET state = ?, updated_at = ?,
           container_id = COALESCE(?, container_id), error = ?, exit_code = COALESCE(?, exit_code),
           started_at = COALESCE(?, started_at)
         WHERE id = ?`,
      ).run(state, c.at, c.containerId ?? null, c.error ?? null, c.exitCode ?? null, c.startedAt ?? null, c.taskId);
      return true;
    }
    case 'task.set-desired': {
      touched.add('tasks');
      const task = requireTask(db, c.taskId);
      if (task.desired_state === c.desiredState) return false;
      if (task.desired_state === 'SHUTDOWN') throw new IllegalTransitionError('task desired state', 'SHUTDOWN', c.desiredState);
      prepared(db, 'UPDATE tasks SET desired_state = ?, updated_at = ? WHERE id = ?').run(c.desiredState, c.at, c.taskId);
      return true;
    }
    case 'task.remove': {
      touched.add('tasks');
      return prepared(db, 'DELETE FROM tasks WHERE id = ?').run(c.taskId).changes > 0;
    }
  }
}

interface ServiceRow {
  name: string;
  version: number;
  image: string;
  command: string | null;
  env: string;
  labels: string;
  /** JSON, normalised (database/ports.ts). */
  ports: string;
  /** 'stop' | 'keep', or null for the default rule (database/on-disconnect.ts). */
  on_disconnect: string | null;
  replicas: number;
  state: ServiceState;
}

interface TaskRow {
  id: string;
  node_id: string | null;
  state: TaskState;
  desired_state: string;
}

function requireService(db: Db, name: string): ServiceRow {
  const row = prepared(db, 'SELECT * FROM services WHERE name = ?').get(name) as ServiceRow | undefined;
  if (!row) throw new BicycleError('SERVICE_NOT_FOUND', `no service named ${name}`);
  return row;
}

function requireTask(db: Db, id: string): TaskRow {
  const row = prepared(db, 'SELECT * FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
  if (!row) throw new BicycleError('NOT_FOUND', `no task ${id}`);
  return row;
}

function requireNode(db: Db, id: string): { status: string; availability: string } {
  const row = prepared(db, 'SELECT status, availability FROM nodes WHERE id = ?').get(id) as
    | { status: string; availability: string }
    | undefined;
  if (!row) throw new BicycleError('NODE_NOT_FOUND', `no node ${id}`);
  return row;
}

/**
 * Any change bumps `version` and sends the service back to DEPLOYING; only
 * a change that needs new containers (image, command, env, labels) bumps
 * `spec_version`. Replicas and ports do not: the orchestrator adds or stops
 * tasks, the traffic manager re-routes.
 */
function updateService(db: Db, service: ServiceRow, changes: ServiceChanges, at: number): boolean {
  const next = {
    image: changes.image ?? service.image,
    command: changes.command !== undefined ? (changes.command ? JSON.stringify(changes.command) : null) : service.command,
    env: changes.env !== undefined ? canonicalJson(changes.env) : service.env,
    labels: changes.labels !== undefined ? canonicalJson(changes.labels) : service.labels,
    ports: changes.ports !== undefined ? portsJson(changes.ports) : service.ports,
    replicas: changes.replicas ?? service.replicas,
    // null: back to the default rule.
    onDisconnect: changes.onDisconnect !== undefined ? changes.onDisconnect : service.on_disconnect,
  };
  const specChanged =
    next.image !== service.image || next.command !== service.command || next.env !== service.env || next.labels !== service.labels;
  const portsChanged = next.ports !== service.ports;
  const onDisconnectChanged = next.onDisconnect !== service.on_disconnect;
  if (!specChanged && !portsChanged && !onDisconnectChanged && next.replicas === service.replicas) return false;
  if (portsChanged) requirePortsFree(db, service.name, changes.ports!);
  const state = service.state === 'NEW' ? 'NEW' : transitionService(service.state, 'DEPLOYING');
  prepared(db, 
    `UPDATE services SET image = @image, command = @command, env = @env, labels = @labels, ports = @ports, on_disconnect = @onDisconnect, replicas = @replicas,
       state = @state, version = version + 1, spec_version = spec_version + @bump, updated_at = @at
     WHERE name = @name`,
  ).run({ ...next, state, bump: specChanged ? 1 : 0, at, name: service.name });
  return true;
}

/** JSON of a string map with its keys sorted, so that equal maps compare equal as text. */
function canonicalJson(map: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}
