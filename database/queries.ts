import type { Db } from './open-database';
import { prepared } from './statements';
import type { ServiceState } from './service-state';
import type { DesiredTaskState, TaskHealth, TaskState } from './task-state';
import type { HealthcheckSpec, LifecycleSettings } from './lifecycle';
import type { NodeFacts, PlacementSpec, ResourceSpec, ServiceMode } from './placement';
import type { NodeAvailability, NodeLink, NodeRole, NodeStatus } from './node-state';
import type { PortSpec } from './commands';
import { normalisePorts } from './ports';
import { effectiveOnDisconnect, type OnDisconnect } from './on-disconnect';
import { parseSecretsJson, type PinnedSecretRef } from './secrets';

/** Read models: rows of the replicated tables as plain objects (times in ms since the epoch). */
export interface ServiceRecord {
  name: string;
  id: string;
  image: string;
  command: string[] | null;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** Published ports, every field present, in order of published port; [] when none. */
  ports: PortSpec[];
  /** What a node cut off from the leader does with this service's replicas: the setting in effect. */
  onDisconnect: OnDisconnect;
  /** The setting as given; null when the default rule decides (database/on-disconnect.ts). */
  onDisconnectSetting: OnDisconnect | null;
  /** The health check given; null: the image's own, if it has one. */
  healthcheck: HealthcheckSpec | null;
  /** Restart, update and rollback policies and the stop grace period as given (database/lifecycle.ts effectiveLifecycle fills in the rest). */
  lifecycle: LifecycleSettings;
  /** The update or rollback under way or last done; null if none since the service was created. */
  updateStatus: UpdateStatus | null;
  /** Constraints, spread preferences, per-node and per-value limits, strategy ({} when none). */
  placement: PlacementSpec;
  /** Reservations and limits ({} when none). */
  resources: ResourceSpec;
  mode: ServiceMode;
  /** The service's own pre-pull setting; null: the cluster's. */
  prepull: boolean | null;
  /** The secrets its containers mount, each pinned to a version of its value (never the value); [] when none. */
  secrets: PinnedSecretRef[];
  replicas: number;
  state: ServiceState;
  version: number;
  specVersion: number;
  /** A rebalance was asked for and is not done yet. */
  rebalance: boolean;
  createdAt: number;
  updatedAt: number;
}

/** An update or a rollback: from which spec version to which, when, and how it ended (docs/deployment.md). */
export interface UpdateStatus {
  kind: 'update' | 'rollback';
  fromVersion: number;
  toVersion: number;
  startedAt: number;
  /** When it completed (the service RUNNING or ROLLED_BACK on `toVersion`); null while under way or paused. */
  completedAt: number | null;
  /** Why it was paused or rolled back; null otherwise. */
  message: string | null;
}

/** One recorded spec version of a service: what its containers are made of. */
export interface ServiceVersion {
  specVersion: number;
  image: string;
  command: string[] | null;
  env: Record<string, string>;
  labels: Record<string, string>;
  healthcheck: HealthcheckSpec | null;
  /** The resource limits of that version ({} when none). */
  limits: NonNullable<ResourceSpec['limits']>;
  /** The secrets that version mounts, with the value versions it pinned ([] when none). */
  secrets: PinnedSecretRef[];
  createdAt: number;
}

export interface TaskRecord {
  id: string;
  serviceName: string;
  slot: number;
  specVersion: number;
  nodeId: string | null;
  state: TaskState;
  desiredState: DesiredTaskState;
  containerId: string | null;
  error: string | null;
  exitCode: number | null;
  startedAt: number | null;
  /** The container's health while it runs (null: not reported yet, as `none`). */
  health: TaskHealth | null;
  createdAt: number;
  updatedAt: number;
}

export interface NodeRecord {
  id: string;
  name: string;
  address: string;
  role: NodeRole;
  status: NodeStatus;
  availability: NodeAvailability;
  /** How it hears of its tasks (database/node-state.ts NODE_LINKS). */
  link: NodeLink;
  startedAt: number;
  lastSeenAt: number;
  /** The operator's labels ({} when none). */
  labels: Record<string, string>;
  /** What its engine reports of it; null until it has. */
  facts: NodeFacts | null;
  createdAt: number;
  updatedAt: number;
}

export interface ContainerStatsRecord {
  containerId: string;
  cpuPercent: number;
  memoryBytes: number;
  sampledAt: number;
}

function toService(row: any): ServiceRecord {
  const ports = normalisePorts(JSON.parse(row.ports));
  // Absent before migration 5, NULL when not set: the default rule decides.
  const setting: OnDisconnect | null = row.on_disconnect === 'stop' || row.on_disconnect === 'keep' ? row.on_disconnect : null;
  return {
    name: row.name,
    id: row.id,
    image: row.image,
    command: row.command ? JSON.parse(row.command) : null,
    env: JSON.parse(row.env),
    labels: JSON.parse(row.labels),
    ports,
    onDisconnect: effectiveOnDisconnect(setting, ports),
    onDisconnectSetting: setting,
    // Absent before migration 6.
    healthcheck: row.healthcheck ? JSON.parse(row.healthcheck) : null,
    lifecycle: row.lifecycle ? JSON.parse(row.lifecycle) : {},
    updateStatus: row.update_status ? JSON.parse(row.update_status) : null,
    // Absent before migration 7.
    placement: row.placement ? JSON.parse(row.placement) : {},
    resources: row.resources ? JSON.parse(row.resources) : {},
    mode: row.mode === 'global' ? 'global' : 'replicated',
    prepull: row.prepull === null || row.prepull === undefined ? null : row.prepull === 1,
    // Absent before migration 9.
    secrets: parseSecretsJson(row.secrets),
    replicas: row.replicas,
    state: row.state,
    version: row.version,
    specVersion: row.spec_version,
    rebalance: row.rebalance === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toTask(row: any): TaskRecord {
  return {
    id: row.id,
    serviceName: row.service_name,
    slot: row.slot,
    specVersion: row.spec_version,
    nodeId: row.node_id,
    state: row.state,
    desiredState: row.desired_state,
    containerId: row.container_id,
    error: row.error,
    exitCode: row.exit_code,
    startedAt: row.started_at,
    health: row.health ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toNode(row: any): NodeRecord {
  return {
    id: row.id,
    name: row.name,
    address: row.address,
    role: row.role,
    status: row.status,
    availability: row.availability,
    link: row.link === 'session' ? 'session' : 'raft',
    startedAt: row.started_at,
    lastSeenAt: row.last_seen_at,
    labels: row.labels ? JSON.parse(row.labels) : {},
    facts: row.facts ? JSON.parse(row.facts) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function listServices(db: Db): ServiceRecord[] {
  return prepared(db, 'SELECT * FROM services ORDER BY name').all().map(toService);
}

export function getService(db: Db, name: string): ServiceRecord | undefined {
  const row = prepared(db, 'SELECT * FROM services WHERE name = ?').get(name);
  return row ? toService(row) : undefined;
}

export function listTasks(db: Db, filter: { serviceName?: string; nodeId?: string } = {}): TaskRecord[] {
  if (filter.serviceName !== undefined) {
    return prepared(db, 'SELECT * FROM tasks WHERE service_name = ? ORDER BY slot, created_at').all(filter.serviceName).map(toTask);
  }
  if (filter.nodeId !== undefined) {
    return prepared(db, 'SELECT * FROM tasks WHERE node_id = ? ORDER BY service_name, slot, created_at').all(filter.nodeId).map(toTask);
  }
  return prepared(db, 'SELECT * FROM tasks ORDER BY service_name, slot, created_at').all().map(toTask);
}

/** The recorded spec versions of a service, newest first. */
export function listServiceVersions(db: Db, serviceName: string): ServiceVersion[] {
  const rows = prepared(db, 'SELECT * FROM service_versions WHERE service_name = ? ORDER BY spec_version DESC').all(serviceName) as any[];
  return rows.map((r) => {
    const spec = JSON.parse(r.spec);
    return {
      specVersion: r.spec_version,
      image: spec.image,
      command: spec.command ?? null,
      env: spec.env ?? {},
      labels: spec.labels ?? {},
      healthcheck: spec.healthcheck ?? null,
      limits: spec.limits ?? {},
      secrets: spec.secrets ?? [],
      createdAt: r.created_at,
    };
  });
}

export function listNodes(db: Db): NodeRecord[] {
  return prepared(db, 'SELECT * FROM nodes ORDER BY name').all().map(toNode);
}

export function getNode(db: Db, idOrName: string): NodeRecord | undefined {
  const row = prepared(db, 'SELECT * FROM nodes WHERE id = ? OR name = ?').get(idOrName, idOrName);
  return row ? toNode(row) : undefined;
}

export function listContainerStats(db: Db): Map<string, ContainerStatsRecord> {
  const rows = prepared(db, 'SELECT * FROM container_stats').all() as any[];
  return new Map(
    rows.map((r) => [r.container_id, { containerId: r.container_id, cpuPercent: r.cpu_percent, memoryBytes: r.memory_bytes, sampledAt: r.sampled_at }]),
  );
}

export function getMeta(db: Db, key: string): string | undefined {
  const row = prepared(db, 'SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

/** Node-local values (this node's id, the leader it knows): never replicated. */
export function getLocal(db: Db, key: string): string | undefined {
  const row = prepared(db, 'SELECT value FROM local_state WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

/** The secret peers authenticate with: replicated in meta, or (before this node caught up) the one it was given. */
export function clusterSecret(db: Db): string | undefined {
  return getMeta(db, 'cluster_secret') ?? getLocal(db, 'cluster_secret');
}

export function setLocal(db: Db, key: string, value: string): void {
  prepared(db, 'INSERT INTO local_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
}
