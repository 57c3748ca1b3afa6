import type { Db } from '../database/open-database';
import {
  getLocal, getMeta, listContainerStats, listNodes, listServices, listTasks,
  type NodeRecord, type ServiceRecord, type TaskRecord,
} from '../database/queries';
import { isTerminalTaskState } from '../database/task-state';
import { managerWarnings } from '../database/node-state';

/** The API's shapes: rows turned into what clients see (ISO times, node names, counts). */
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const seconds = (now: number, since: number | null) => (since === null ? null : Math.max(0, Math.floor((now - since) / 1000)));

export function isRunning(task: TaskRecord): boolean {
  return task.desiredState === 'RUNNING' && task.state === 'RUNNING';
}

export function presentTask(task: TaskRecord, nodeNames: ReadonlyMap<string, string>) {
  return {
    id: task.id,
    name: `${task.serviceName}.${task.slot}`,
    slot: task.slot,
    node: task.nodeId ? (nodeNames.get(task.nodeId) ?? task.nodeId) : null,
    nodeId: task.nodeId,
    state: task.state,
    desiredState: task.desiredState,
    containerId: task.containerId,
    error: task.error,
    exitCode: task.exitCode,
    version: task.specVersion,
    startedAt: iso(task.startedAt),
    createdAt: iso(task.createdAt),
    updatedAt: iso(task.updatedAt),
  };
}

export function presentService(service: ServiceRecord, tasks: readonly TaskRecord[], nodeNames: ReadonlyMap<string, string>) {
  const ordered = [...tasks].sort((a, b) => a.slot - b.slot || b.createdAt - a.createdAt);
  return {
    name: service.name,
    id: service.id,
    image: service.image,
    command: service.command,
    env: service.env,
    labels: service.labels,
    /** Every field present (protocol, mode, proxy defaulted), in order of published port. */
    ports: service.ports,
    /** What a node cut off from the leader does with its replicas: the setting, or the default rule's answer (stop with published ports, keep without). */
    onDisconnect: service.onDisconnect,
    replicas: service.replicas,
    running: tasks.filter(isRunning).length,
    state: service.state,
    version: service.version,
    /** Bumped only by changes that need new containers (image, command, env, labels; not replicas or ports); each task's `version` is the one it runs. */
    specVersion: service.specVersion,
    rebalancing: service.rebalance,
    createdAt: iso(service.createdAt),
    updatedAt: iso(service.updatedAt),
    tasks: ordered.map((t) => presentTask(t, nodeNames)),
  };
}

export type ServiceView = ReturnType<typeof presentService>;

export function nodeNameMap(db: Db): Map<string, string> {
  return new Map(listNodes(db).map((n) => [n.id, n.name]));
}

export function readService(db: Db, service: ServiceRecord): ServiceView {
  return presentService(service, listTasks(db, { serviceName: service.name }), nodeNameMap(db));
}

export function readServices(db: Db): ServiceView[] {
  const byService = groupTasks(listTasks(db));
  const names = nodeNameMap(db);
  return listServices(db).map((s) => presentService(s, byService.get(s.name) ?? [], names));
}

/** Why the service's latest failed task failed, if it did: what State shows for a DEGRADED service. */
function lastError(tasks: readonly TaskRecord[]): string | null {
  let latest: TaskRecord | undefined;
  for (const t of tasks) if (t.error && (!latest || t.updatedAt > latest.updatedAt)) latest = t;
  return latest?.error ?? null;
}

function groupTasks(tasks: TaskRecord[]): Map<string, TaskRecord[]> {
  const map = new Map<string, TaskRecord[]>();
  for (const t of tasks) {
    const list = map.get(t.serviceName);
    if (list) list.push(t);
    else map.set(t.serviceName, [t]);
  }
  return map;
}

export function presentNode(node: NodeRecord, leaderId: string | undefined, taskCount: number, now: number) {
  return {
    id: node.id,
    name: node.name,
    address: node.address,
    role: node.role,
    status: node.status,
    availability: node.availability,
    leader: node.id === leaderId,
    uptimeSeconds: node.status === 'READY' ? seconds(now, node.startedAt) : null,
    lastSeenAt: iso(node.lastSeenAt),
    tasks: taskCount,
  };
}

export function readNodes(db: Db, now: number) {
  const { nodes, tasks, leaderId } = stateRows(db);
  const counts = liveTasksPerNode(tasks);
  return nodes.map((n) => presentNode(n, leaderId, counts.get(n.id) ?? 0, now));
}

/** Tasks each node runs or is about to run (wanted RUNNING, not ended): the node's load as users see it. */
function liveTasksPerNode(tasks: readonly TaskRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of tasks) {
    if (t.nodeId && t.desiredState === 'RUNNING' && !isTerminalTaskState(t.state)) counts.set(t.nodeId, (counts.get(t.nodeId) ?? 0) + 1);
  }
  return counts;
}

interface StateRows {
  version: number;
  nodes: NodeRecord[];
  tasks: TaskRecord[];
  services: ServiceRecord[];
  stats: ReturnType<typeof listContainerStats>;
  leaderId: string | undefined;
  term: number;
  clusterId: string | undefined;
}

const stateCache = new WeakMap<Db, { dataVersion: () => number; rows?: StateRows }>();

/**
 * The rows behind GET /state, read in one transaction and kept until another
 * connection commits (SQLite's data_version changes): reading 1,000 task rows
 * costs milliseconds, and a busy cluster is read far more often than written.
 * Uptimes are computed per request from the cached start times.
 */
function stateRows(db: Db): StateRows {
  let entry = stateCache.get(db);
  if (!entry) {
    const statement = db.prepare('PRAGMA data_version').pluck();
    entry = { dataVersion: () => statement.get() as number };
    stateCache.set(db, entry);
  }
  const version = entry.dataVersion();
  if (entry.rows?.version === version) return entry.rows;
  entry.rows = db.transaction(() => ({
    version,
    nodes: listNodes(db),
    tasks: listTasks(db),
    services: listServices(db),
    stats: listContainerStats(db),
    leaderId: getLocal(db, 'leader_id'),
    term: Number(getLocal(db, 'term') ?? 0),
    clusterId: getMeta(db, 'cluster_id'),
  }))();
  return entry.rows;
}

/** GET /state: the whole cluster as this node knows it, from rows read in one transaction so it is consistent. */
export function readState(db: Db, now: number) {
  const { nodes, tasks, stats, services, leaderId, term, clusterId } = stateRows(db);
  const names = new Map(nodes.map((n) => [n.id, n.name]));
  const byService = groupTasks(tasks);
  const counts = liveTasksPerNode(tasks);
  return {
    cluster: {
      id: clusterId ?? null,
      leader: leaderId ? (names.get(leaderId) ?? leaderId) : null,
      leaderId: leaderId ?? null,
      term,
      warnings: managerWarnings(nodes),
    },
    nodes: nodes.map((n) => presentNode(n, leaderId, counts.get(n.id) ?? 0, now)),
    services: services.map((s) => ({
      name: s.name,
      image: s.image,
      ports: s.ports,
      replicas: s.replicas,
      running: (byService.get(s.name) ?? []).filter(isRunning).length,
      state: s.state,
      version: s.version,
      error: lastError(byService.get(s.name) ?? []),
    })),
    containers: tasks
      .filter((t) => t.containerId !== null && !isTerminalTaskState(t.state))
      .map((t) => {
        const sample = stats.get(t.containerId!);
        return {
          id: t.containerId,
          task: t.id,
          service: t.serviceName,
          slot: t.slot,
          node: t.nodeId ? (names.get(t.nodeId) ?? t.nodeId) : null,
          state: t.state,
          desiredState: t.desiredState,
          uptimeSeconds: t.state === 'RUNNING' ? seconds(now, t.startedAt) : null,
          cpuPercent: sample?.cpuPercent ?? null,
          memoryBytes: sample?.memoryBytes ?? null,
        };
      }),
  };
}
