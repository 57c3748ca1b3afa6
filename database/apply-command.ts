import type { Db } from './open-database';
import { prepared } from './statements';
import type { Command, ServiceChanges } from './commands';
import { IllegalTransitionError, transitionTask, type TaskState } from './task-state';
import { isRollingState, isServiceDeleting, transitionService, type ServiceState } from './service-state';
import { canonicalLifecycleJson, mergeLifecycle, type LifecycleSettings } from './lifecycle';
import type { UpdateStatus } from './queries';
import type { ResourceSpec } from './placement';
import { transitionNodeStatus, type NodeStatus } from './node-state';
import { BicycleError, type ErrorData } from './errors';
import { portsJson, requirePortsFree } from './ports';
import { requireReplicasWithinLimit } from './replica-limit';
import { createSecret, parseSecretsJson, type PinnedSecretRef, pinSecrets, pruneSecretVersions, removeSecret, requirePinnedValues, secretsJson, updateSecretValue } from './secrets';
import { deleteToken, getToken, insertToken } from './tokens';

/** Meta keys `revoked_node:<node id>` (value: when it was removed): the node certificates' deny list. */
export const REVOKED_NODE_PREFIX = 'revoked_node:';

/**
 * What applying a command gave. A batch is ok as a whole while its
 * commands are applied one by one: `refused` lists those refused (their
 * place in the batch, type and error), absent when none was.
 */
export type ApplyResult = { ok: true; changed: boolean; refused?: BatchRefusal[] } | { ok: false; error: ErrorData };

/** One command of a batch that was refused (and so changed nothing). */
export interface BatchRefusal {
  index: number;
  type: Command['type'];
  error: ErrorData;
}

/** The tables a command touched, for the "changed: <table>" notes. */
export type Table = 'nodes' | 'services' | 'service_versions' | 'tasks' | 'meta' | 'applied_requests' | 'api_tokens' | 'secrets' | 'secret_versions';

/**
 * Applies one committed command to the replicated tables. Deterministic: the
 * same command on the same rows gives the same rows on every node, whatever
 * the time or the node. A command that is refused (an illegal transition, a
 * duplicate name) changes nothing and answers `{ ok: false, error }`; it is
 * still committed, so every node refuses it alike. Must run inside the
 * caller's transaction (the one that records the applied index).
 */
export function applyCommand(db: Db, command: Command, touched: Set<Table> = new Set()): ApplyResult {
  // A write made with a token that was removed before it committed is refused alike on every node (docs/security.md).
  if (command.request?.accessor && !getToken(db, command.request.accessor)) {
    return { ok: false, error: { code: 'UNAUTHENTICATED', message: `the token ${command.request.actor ?? command.request.accessor} was removed before this write committed; use a valid token` } };
  }
  if (command.type === 'batch') {
    let changed = false;
    const refused: BatchRefusal[] = [];
    command.commands.forEach((inner, index) => {
      const result = applyCommand(db, inner, touched);
      if (result.ok) changed ||= result.changed;
      else refused.push({ index, type: inner.type, error: result.error });
    });
    return refused.length > 0 ? { ok: true, changed, refused } : { ok: true, changed };
  }
  // Commands that refuse before their first write need no savepoint to undo a half-applied one (most of a placement's).
  if (REFUSE_BEFORE_WRITING.has(command.type)) {
    try {
      return { ok: true, changed: applyOne(db, command, touched) };
    } catch (error) {
      const refusal = refusalOf(error);
      if (refusal) return { ok: false, error: refusal };
      throw error;
    }
  }
  prepared(db, 'SAVEPOINT apply_one').run();
  try {
    const changed = applyOne(db, command, touched);
    prepared(db, 'RELEASE apply_one').run();
    return { ok: true, changed };
  } catch (error) {
    prepared(db, 'ROLLBACK TO apply_one').run();
    prepared(db, 'RELEASE apply_one').run();
    const refusal = refusalOf(error);
    if (refusal) return { ok: false, error: refusal };
    throw error;
  }
}

/**
 * The commands whose every refusal is thrown before their first write, and
 * whose writes are each one statement (atomic in SQLite) or idempotent
 * updates: a refusal leaves nothing behind without a savepoint. A command
 * added here must keep that shape (checks first, then writes); others take
 * the savepoint.
 */
const REFUSE_BEFORE_WRITING: ReadonlySet<Command['type']> = new Set([
  'task.create', 'task.assign', 'task.observe', 'task.set-desired', 'task.set-slot', 'task.set-pending', 'task.remove', 'node.seen',
]);

/** A refusal as every node gives it alike (code and message, not a fault with a stack); undefined for a fault. */
function refusalOf(error: unknown): ErrorData | undefined {
  if (error instanceof IllegalTransitionError) return { code: 'ILLEGAL_TRANSITION', message: error.message };
  if (error instanceof BicycleError) return { code: error.code, message: error.message };
  return undefined;
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
      // The cluster CA's certificate (absent in commands from before the CA): what every node trusts.
      if (c.caCert) insert.run('ca_cert', c.caCert);
      return true;
    }
    case 'cluster.rotate-join-token': {
      touched.add('meta');
      return prepared(db, "UPDATE meta SET value = ? WHERE key = 'join_token'").run(c.joinToken).changes > 0;
    }
    case 'node.register': {
      touched.add('nodes');
      const n = c.node;
      const clash = prepared(db, 'SELECT id FROM nodes WHERE name = ? AND id != ?').get(n.name, n.id);
      if (clash) throw new BicycleError('INVALID_ARGUMENT', `node name ${n.name} is already taken by another node`);
      const result = prepared(db,
        `INSERT INTO nodes (id, name, address, role, link, status, availability, started_at, last_seen_at, created_at, updated_at)
         VALUES (@id, @name, @address, @role, @link, 'READY', 'active', @startedAt, @at, @at, @at)
         ON CONFLICT(id) DO UPDATE SET name = @name, address = @address, role = @role, link = @link, status = 'READY',
           started_at = @startedAt, last_seen_at = @at, updated_at = @at`,
      ).run({ id: n.id, name: n.name, address: n.address, role: n.role, startedAt: n.startedAt, link: n.link ?? 'raft', at: c.at });
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
    case 'node.set-labels': {
      touched.add('nodes');
      requireNode(db, c.nodeId);
      return prepared(db, 'UPDATE nodes SET labels = ?, updated_at = ? WHERE id = ? AND labels != ?')
        .run(canonicalJson(c.labels), c.at, c.nodeId, canonicalJson(c.labels)).changes > 0;
    }
    case 'node.set-facts': {
      touched.add('nodes');
      requireNode(db, c.nodeId);
      const facts = canonicalLifecycleJson(c.facts);
      return prepared(db, 'UPDATE nodes SET facts = ?, updated_at = ? WHERE id = ? AND facts IS NOT ?').run(facts, c.at, c.nodeId, facts).changes > 0;
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
      touched.add('meta');
      // The deny list: a removed node's certificates are refused by every member from now on (docs/security.md).
      prepared(db, 'INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run(`${REVOKED_NODE_PREFIX}${c.nodeId}`, String(c.at));
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
      touched.add('service_versions');
      const lifecycle = mergeLifecycle({}, c.spec);
      const healthcheck = c.spec.healthcheck ? canonicalLifecycleJson(c.spec.healthcheck) : null;
      prepared(db, 
        `INSERT INTO services (name, id, image, command, env, labels, ports, on_disconnect, healthcheck, lifecycle, placement, resources, mode, prepull,
           secrets, replicas, state, version, spec_version, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'NEW', 1, 1, ?, ?)`,
      ).run(c.name, c.id, c.spec.image, c.spec.command ? JSON.stringify(c.spec.command) : null,
        canonicalJson(c.spec.env), canonicalJson(c.spec.labels), portsJson(ports), c.spec.onDisconnect ?? null,
        healthcheck, canonicalLifecycleJson(lifecycle), canonicalLifecycleJson(c.spec.placement ?? {}), canonicalLifecycleJson(c.spec.resources ?? {}),
        c.spec.mode ?? 'replicated', c.spec.prepull === undefined || c.spec.prepull === null ? null : c.spec.prepull ? 1 : 0,
        secretsJson(pinSecrets(db, c.spec.secrets ?? [])), c.replicas, c.at, c.at);
      recordVersion(db, c.name, 1, c.at);
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
      touched.add('service_versions');
      return updateService(db, service, c.changes, c.at);
    }
    case 'service.rollback': {
      touched.add('services');
      touched.add('service_versions');
      return rollbackService(db, requireService(db, c.name), c.toVersion, c.reason, c.at);
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
      prepared(db, 'UPDATE services SET state = ?, update_status = ?, updated_at = ? WHERE name = ?')
        .run(c.state, updateStatusAfter(service, c.state, c.reason ?? null, c.at), c.at, c.name);
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
      // Its recorded versions went with it: the secret values only they pinned go too.
      if (pruneSecretVersions(db)) touched.add('secret_versions');
      return true;
    }
    case 'task.create': {
      touched.add('tasks');
      if (!prepared(db, 'SELECT 1 FROM services WHERE name = ?').get(c.serviceName)) throw new BicycleError('SERVICE_NOT_FOUND', `no service named ${c.serviceName}`);
      if (c.nodeId !== undefined) requireNode(db, c.nodeId);
      const result = prepared(db,
        `INSERT INTO tasks (id, service_name, slot, spec_version, node_id, state, desired_state, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'RUNNING', ?, ?) ON CONFLICT(id) DO NOTHING`,
      ).run(c.id, c.serviceName, c.slot, c.specVersion, c.nodeId ?? null, c.nodeId === undefined ? 'NEW' : 'ASSIGNED', c.at, c.at);
      return result.changes > 0;
    }
    case 'task.set-slot': {
      touched.add('tasks');
      requireTask(db, c.taskId);
      return prepared(db, 'UPDATE tasks SET slot = ?, updated_at = ? WHERE id = ? AND slot != ?').run(c.slot, c.at, c.taskId, c.slot).changes > 0;
    }
    case 'task.set-pending': {
      touched.add('tasks');
      // Only tasks still waiting for a node: one placed since the reason was decided keeps its own state.
      const set = prepared(db, "UPDATE tasks SET error = ? WHERE id = ? AND state = 'NEW' AND node_id IS NULL AND error IS NOT ?");
      let changed = false;
      for (const [taskId, reason] of Object.entries(c.reasons)) changed = set.run(reason, taskId, reason).changes > 0 || changed;
      return changed;
    }
    case 'task.assign': {
      touched.add('tasks');
      const task = requireTask(db, c.taskId);
      requireNode(db, c.nodeId);
      if (task.node_id === c.nodeId) return false;
      if (task.state !== 'NEW') throw new IllegalTransitionError('task', `${task.state} on ${task.node_id}`, `ASSIGNED to ${c.nodeId}`);
      transitionTask(task.state, 'ASSIGNED');
      prepared(db, "UPDATE tasks SET node_id = ?, state = 'ASSIGNED', error = NULL, updated_at = ? WHERE id = ?").run(c.nodeId, c.at, c.taskId);
      return true;
    }
    case 'task.observe': {
      touched.add('tasks');
      const task = prepared(db, 'SELECT id, node_id, state, desired_state FROM tasks WHERE id = ?').get(c.taskId) as TaskRow | undefined;
      // A report about a task the orchestrator already removed is stale, not an error.
      if (!task) return false;
      const state = transitionTask(task.state, c.state);
      prepared(db, 
        `UPDATE tasks SET state = ?, updated_at = ?,
           container_id = COALESCE(?, container_id), error = ?, exit_code = COALESCE(?, exit_code),
           started_at = COALESCE(?, started_at), health = COALESCE(?, health)
         WHERE id = ?`,
      ).run(state, c.at, c.containerId ?? null, c.error ?? null, c.exitCode ?? null, c.startedAt ?? null, c.health ?? null, c.taskId);
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
    case 'token.create': {
      touched.add('api_tokens');
      const created = insertToken(db, { accessor: c.accessor, name: c.name, role: c.role, secretHash: c.secretHash, createdAt: c.at, expiresAt: c.expiresAt, createdBy: c.createdBy });
      if (!created) throw new BicycleError('TOKEN_EXISTS', `a token named ${c.name} (or with accessor ${c.accessor}) already exists; choose another name or remove it first`);
      return true;
    }
    case 'token.remove': {
      touched.add('api_tokens');
      if (!deleteToken(db, c.accessor)) throw new BicycleError('TOKEN_NOT_FOUND', `no token with accessor ${c.accessor}`);
      return true;
    }
    case 'secret.create': {
      touched.add('secrets');
      touched.add('secret_versions');
      return createSecret(db, c);
    }
    case 'secret.update': {
      touched.add('secrets');
      touched.add('secret_versions');
      // Every service that mounts it gets a new spec version pinning the new value, rolled out under its update policy.
      for (const name of updateSecretValue(db, c)) {
        const service = requireService(db, name);
        if (isServiceDeleting(service.state)) continue;
        touched.add('services');
        touched.add('service_versions');
        const refs = parseSecretsJson(service.secrets).map(({ source, target, mode }) => ({ source, target, mode }));
        updateService(db, service, { secrets: refs }, c.at);
      }
      pruneSecretVersions(db);
      return true;
    }
    case 'secret.remove': {
      touched.add('secrets');
      touched.add('secret_versions');
      return removeSecret(db, c.name);
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
  spec_version: number;
  /** JSON HealthcheckSpec or NULL (migration 6). */
  healthcheck: string | null;
  /** JSON LifecycleSettings (migration 6). */
  lifecycle: string;
  /** JSON UpdateStatus or NULL (migration 6). */
  update_status: string | null;
  /** JSON PlacementSpec, JSON ResourceSpec, 'replicated' | 'global', 1 | 0 | NULL (migration 7). */
  placement: string;
  resources: string;
  mode: string;
  prepull: number | null;
  /** JSON PinnedSecretRef[] (migration 9). */
  secrets: string;
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
  const row = prepared(db, 'SELECT id, node_id, state, desired_state FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
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
 * Any change bumps `version`. A change to what containers are made of
 * (image, command, env, labels, healthcheck) is a new spec version: it is
 * recorded in service_versions and starts an update (UPDATING, rolled out by
 * the orchestrator under the update policy). Replicas, ports and policies
 * need no new containers: a scale sends the service to DEPLOYING (or keeps
 * an update's state), the traffic manager re-routes, and a policy change
 * resumes a PAUSED update.
 */
function updateService(db: Db, service: ServiceRow, changes: ServiceChanges, at: number): boolean {
  const lifecycle = canonicalLifecycleJson(mergeLifecycle(JSON.parse(service.lifecycle || '{}') as LifecycleSettings, changes));
  const next = {
    image: changes.image ?? service.image,
    command: changes.command !== undefined ? (changes.command ? JSON.stringify(changes.command) : null) : service.command,
    env: changes.env !== undefined ? canonicalJson(changes.env) : service.env,
    labels: changes.labels !== undefined ? canonicalJson(changes.labels) : service.labels,
    healthcheck: changes.healthcheck !== undefined ? (changes.healthcheck ? canonicalLifecycleJson(changes.healthcheck) : null) : service.healthcheck,
    ports: changes.ports !== undefined ? portsJson(changes.ports) : service.ports,
    replicas: changes.replicas ?? service.replicas,
    // null: back to the default rule.
    onDisconnect: changes.onDisconnect !== undefined ? changes.onDisconnect : service.on_disconnect,
    lifecycle,
    placement: changes.placement !== undefined ? canonicalLifecycleJson(changes.placement ?? {}) : service.placement,
    resources: changes.resources !== undefined ? canonicalLifecycleJson(changes.resources ?? {}) : service.resources,
    prepull: changes.prepull !== undefined ? (changes.prepull === null ? null : changes.prepull ? 1 : 0) : service.prepull,
    // Given secrets are pinned to their current versions; a secret update re-pins the same refs.
    secrets: changes.secrets !== undefined ? secretsJson(pinSecrets(db, changes.secrets ?? [])) : service.secrets,
  };
  if (changes.mode !== undefined && changes.mode !== service.mode) {
    throw new BicycleError('INVALID_ARGUMENT', `mode: service ${service.name} is ${service.mode}; a service's mode cannot change (remove it and add it again)`);
  }
  const limitsOf = (json: string) => canonicalLifecycleJson((JSON.parse(json || '{}') as ResourceSpec).limits ?? {});
  const specChanged =
    next.image !== service.image || next.command !== service.command || next.env !== service.env || next.labels !== service.labels ||
    next.healthcheck !== service.healthcheck || limitsOf(next.resources) !== limitsOf(service.resources) || next.secrets !== service.secrets;
  const placementChanged = next.placement !== service.placement || next.resources !== service.resources || next.prepull !== service.prepull;
  const portsChanged = next.ports !== service.ports;
  const onDisconnectChanged = next.onDisconnect !== service.on_disconnect;
  const lifecycleChanged = next.lifecycle !== (service.lifecycle || '{}');
  if (!specChanged && !portsChanged && !onDisconnectChanged && !lifecycleChanged && !placementChanged && next.replicas === service.replicas) return false;
  if (portsChanged) requirePortsFree(db, service.name, changes.ports!);
  let state: ServiceState = service.state;
  let updateStatus = service.update_status;
  let specVersion = service.spec_version;
  if (specChanged) {
    specVersion = nextSpecVersion(db, service);
    if (service.state !== 'NEW') {
      state = transitionService(service.state, 'UPDATING');
      updateStatus = JSON.stringify({ kind: 'update', fromVersion: service.spec_version, toVersion: specVersion, startedAt: at, completedAt: null, message: null } satisfies UpdateStatus);
    }
  } else if (service.state === 'PAUSED' && lifecycleChanged) {
    // New policies resume the paused update or rollback under them.
    const status = service.update_status ? (JSON.parse(service.update_status) as UpdateStatus) : null;
    state = status?.kind === 'rollback' ? 'ROLLING_BACK' : 'UPDATING';
    updateStatus = status ? JSON.stringify({ ...status, message: null }) : null;
  } else if (next.replicas !== service.replicas && service.state !== 'NEW' && !isRollingState(service.state)) {
    state = transitionService(service.state, 'DEPLOYING');
  }
  prepared(db, 
    `UPDATE services SET image = @image, command = @command, env = @env, labels = @labels, healthcheck = @healthcheck, ports = @ports,
       on_disconnect = @onDisconnect, lifecycle = @lifecycle, placement = @placement, resources = @resources, prepull = @prepull,
       secrets = @secrets, replicas = @replicas, state = @state, update_status = @updateStatus,
       version = version + 1, spec_version = @specVersion, updated_at = @at
     WHERE name = @name`,
  ).run({ ...next, state, updateStatus, specVersion, at, name: service.name });
  if (specChanged) {
    recordVersion(db, service.name, specVersion, at);
    pruneSecretVersions(db);
  }
  return true;
}

/** Spec versions only grow, also after a rollback returned to an older one: the next is past every one recorded. */
function nextSpecVersion(db: Db, service: ServiceRow): number {
  const row = prepared(db, 'SELECT max(spec_version) AS v FROM service_versions WHERE service_name = ?').get(service.name) as { v: number | null };
  return Math.max(row.v ?? 0, service.spec_version) + 1;
}

/** Spec versions kept per service for history and rollback. */
export const VERSIONS_KEPT = 10;

/** Records the service's current container spec as `specVersion`, and forgets all but the newest VERSIONS_KEPT. */
function recordVersion(db: Db, name: string, specVersion: number, at: number): void {
  const row = prepared(db, 'SELECT image, command, env, labels, healthcheck, resources, secrets FROM services WHERE name = ?').get(name) as
    { image: string; command: string | null; env: string; labels: string; healthcheck: string | null; resources: string; secrets: string };
  const limits = canonicalLifecycleJson((JSON.parse(row.resources || '{}') as ResourceSpec).limits ?? {});
  const spec = `{"image":${JSON.stringify(row.image)},"command":${row.command ?? 'null'},"env":${row.env},"labels":${row.labels},"healthcheck":${row.healthcheck ?? 'null'},"limits":${limits},"secrets":${row.secrets || '[]'}}`;
  prepared(db, 'INSERT INTO service_versions (service_name, spec_version, spec, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET spec = excluded.spec')
    .run(name, specVersion, spec, at);
  prepared(db, 
    `DELETE FROM service_versions WHERE service_name = ? AND spec_version NOT IN
       (SELECT spec_version FROM service_versions WHERE service_name = ? ORDER BY spec_version DESC LIMIT ?)`,
  ).run(name, name, VERSIONS_KEPT);
}

/**
 * Returns the service's container spec to an earlier version: `toVersion`,
 * else the previous one (the version the last update or rollback to the
 * current one started from, so a rollback of a rollback re-applies what it
 * undid), else the newest one before the current. The service is ROLLING_BACK until the orchestrator has
 * replaced every replica of other versions (under the rollback policy).
 */
function rollbackService(db: Db, service: ServiceRow, toVersion: number | undefined, reason: string, at: number): boolean {
  if (isServiceDeleting(service.state)) {
    throw new BicycleError('SERVICE_DELETING', `service ${service.name} is being deleted and can no longer be rolled back`);
  }
  const status = service.update_status ? (JSON.parse(service.update_status) as UpdateStatus) : null;
  let target = toVersion;
  // The previous spec (Swarm's PreviousSpec): the one the last update or rollback to the current version started from.
  if (target === undefined && status && status.toVersion === service.spec_version && status.fromVersion !== service.spec_version) target = status.fromVersion;
  if (target === undefined) {
    const before = prepared(db, 'SELECT max(spec_version) AS v FROM service_versions WHERE service_name = ? AND spec_version < ?').get(service.name, service.spec_version) as { v: number | null };
    if (before.v === null) throw new BicycleError('NO_PREVIOUS_VERSION', `service ${service.name} has no earlier spec version to roll back to`);
    target = before.v;
  }
  if (target === service.spec_version) {
    throw new BicycleError('NO_PREVIOUS_VERSION', `service ${service.name} already runs spec version ${target}; name another version to roll back to (see service history)`);
  }
  const version = prepared(db, 'SELECT spec FROM service_versions WHERE service_name = ? AND spec_version = ?').get(service.name, target) as { spec: string } | undefined;
  if (!version) {
    throw new BicycleError('VERSION_NOT_FOUND', `service ${service.name} has no spec version ${target} (the newest ${VERSIONS_KEPT} are kept; see service history)`);
  }
  const spec = JSON.parse(version.spec) as { image: string; command: string[] | null; env: Record<string, string>; labels: Record<string, string>; healthcheck: unknown; limits?: ResourceSpec['limits']; secrets?: PinnedSecretRef[] };
  // The values that version pinned (kept while any recorded version pins them); a version from before secrets mounts none.
  const secrets = spec.secrets ?? [];
  requirePinnedValues(db, secrets, `spec version ${target} of service ${service.name}`);
  // Limits are part of the version; reservations are not (they place, they do not make the container).
  const current = JSON.parse(service.resources || '{}') as ResourceSpec;
  const { limits: _old, ...rest } = current;
  const resources = canonicalLifecycleJson(spec.limits && Object.keys(spec.limits).length > 0 ? { ...rest, limits: spec.limits } : rest);
  const state = transitionService(service.state, 'ROLLING_BACK');
  const updateStatus: UpdateStatus = { kind: 'rollback', fromVersion: service.spec_version, toVersion: target, startedAt: at, completedAt: null, message: reason };
  prepared(db, 
    `UPDATE services SET image = ?, command = ?, env = ?, labels = ?, healthcheck = ?, resources = ?, secrets = ?, state = ?, update_status = ?,
       version = version + 1, spec_version = ?, updated_at = ? WHERE name = ?`,
  ).run(spec.image, spec.command ? JSON.stringify(spec.command) : null, canonicalJson(spec.env), canonicalJson(spec.labels),
    spec.healthcheck ? canonicalLifecycleJson(spec.healthcheck) : null, resources, secretsJson(secrets), state, JSON.stringify(updateStatus), target, at, service.name);
  return true;
}

/** The update status once the service moves to `state`: completed on RUNNING or ROLLED_BACK after a rollout, the reason kept on PAUSED. */
function updateStatusAfter(service: ServiceRow, state: ServiceState, reason: string | null, at: number): string | null {
  if (!service.update_status) return null;
  const status = JSON.parse(service.update_status) as UpdateStatus;
  if (state === 'PAUSED') return JSON.stringify({ ...status, message: reason ?? status.message });
  if ((state === 'RUNNING' || state === 'ROLLED_BACK') && isRollingState(service.state)) return JSON.stringify({ ...status, completedAt: at });
  return service.update_status;
}

/** JSON of a string map with its keys sorted, so that equal maps compare equal as text. */
function canonicalJson(map: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}
