import type { Db } from '../database/open-database';
import { prepared } from '../database/statements';
import {
  getLocal, getMeta, listContainerStats, listNodes, listServices,
  type NodeRecord, type ServiceRecord, type TaskRecord,
} from '../database/queries';
import {
  emptyCounts, encodeCursor, lastErrorByService, listCurrentTasks, listLiveContainerTasks, listTaskPage, liveContainerCounts,
  liveTaskCountsByNode, taskCountsByService, type TaskCounts, type TaskCursor,
} from '../database/task-summary';
import { managerWarnings } from '../database/node-state';
import { readVersion, type ReadVersion } from '../database/read-version';
import { isServing } from '../database/task-state';
import { DEFAULT_LIFECYCLE, lifecycleFields, updateStatusField, type LifecycleDefaults } from './present-lifecycle';
import { nodePlacementFields, placementFields, reservedByNode, wantedByService, type Capacity } from './present-placement';
import { readPrepullStatus, type PrepullStatus } from '../daemon/deployment/prepull-status';

/** The API's shapes: rows turned into what clients see (ISO times, node names, counts). */
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const seconds = (now: number, since: number | null) => (since === null ? null : Math.max(0, Math.floor((now - since) / 1000)));

export function isRunning(task: TaskRecord): boolean {
  return task.desiredState === 'RUNNING' && task.state === 'RUNNING';
}

/** Running as wanted and serving: healthy, or without a check (what `healthy` counts). */
export function isHealthy(task: TaskRecord): boolean {
  return task.desiredState === 'RUNNING' && isServing(task);
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
    /** none | starting | healthy | unhealthy as the engine reports it; null until it has. */
    health: task.health,
    version: task.specVersion,
    startedAt: iso(task.startedAt),
    createdAt: iso(task.createdAt),
    updatedAt: iso(task.updatedAt),
  };
}

/**
 * A service's own fields, without its tasks: what every shape of it shares.
 * A global service's `replicas` is how many of its tasks are wanted
 * running (one per eligible node), `wanted`: its stored count is not used.
 */
function serviceFields(service: ServiceRecord, defaults: LifecycleDefaults, wanted: number) {
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
    ...lifecycleFields(service, defaults),
    ...placementFields(service, defaults.prepull ?? false),
    /** The secrets its containers mount and the version of each value they get; never a value. */
    secrets: service.secrets,
    replicas: replicaCount(service, wanted),
  };
}

function replicaCount(service: ServiceRecord, wanted: number): number {
  return service.mode === 'global' ? wanted : service.replicas;
}

function serviceStatus(service: ServiceRecord) {
  return {
    state: service.state,
    version: service.version,
    /** The container spec it runs: a new one for each change that needs new containers (image, command, env, labels, healthcheck; not replicas, ports or policies), an older one after a rollback; each task's `version` is the one it runs. */
    specVersion: service.specVersion,
    ...updateStatusField(service),
    rebalancing: service.rebalance,
    createdAt: iso(service.createdAt),
    updatedAt: iso(service.updatedAt),
  };
}

/**
 * A service with its tasks: `tasks` are those given (current ones and a
 * bounded history, see readService), slot order, newest first;
 * `tasksOmitted` counts the older dead tasks left out (all of them are on
 * GET /services/:name/tasks).
 */
export function presentService(
  service: ServiceRecord, tasks: readonly TaskRecord[], nodeNames: ReadonlyMap<string, string>, tasksOmitted = 0, defaults = DEFAULT_LIFECYCLE,
) {
  const ordered = [...tasks].sort((a, b) => a.slot - b.slot || b.createdAt - a.createdAt);
  return {
    ...serviceFields(service, defaults, tasks.filter((t) => t.desiredState === 'RUNNING').length),
    running: tasks.filter(isRunning).length,
    healthy: tasks.filter(isHealthy).length,
    ...serviceStatus(service),
    tasks: ordered.map((t) => presentTask(t, nodeNames)),
    tasksOmitted,
  };
}

export type ServiceView = ReturnType<typeof presentService>;

/** A service in GET /services: its tasks counted, not listed; `error` is why its latest failed task failed. */
export function presentServiceSummary(service: ServiceRecord, counts: TaskCounts, error: string | null, defaults = DEFAULT_LIFECYCLE, wanted = 0) {
  return {
    ...serviceFields(service, defaults, wanted),
    running: counts.running,
    healthy: counts.healthy,
    ...serviceStatus(service),
    taskCounts: { total: counts.total, byState: counts.byState },
    error,
  };
}

export type ServiceSummary = ReturnType<typeof presentServiceSummary>;

const nodeNames = new WeakMap<Db, { version: number; names: Map<string, string> }>();

/** Node names by id, kept until the rows change (database/read-version.ts): every task shown names its node. */
export function nodeNameMap(db: Db): Map<string, string> {
  const version = readVersion(db).all;
  const kept = nodeNames.get(db);
  if (kept?.version === version) return kept.names;
  const names = new Map(prepared(db, 'SELECT id, name FROM nodes').all().map((n) => [(n as { id: string }).id, (n as { name: string }).name]));
  nodeNames.set(db, { version, names });
  return names;
}

/** Dead tasks shown with a service (its newest); a few per slot for a small service, as docker service ps shows. */
export const SERVICE_HISTORY_LIMIT = 100;

/** A service with its current tasks and its newest SERVICE_HISTORY_LIMIT dead ones: bounded by its replicas, not its history. */
export function readService(db: Db, service: ServiceRecord, defaults = DEFAULT_LIFECYCLE): ServiceView {
  const { tasks, omitted } = db.transaction(() => listCurrentTasks(db, service.name, SERVICE_HISTORY_LIMIT))();
  return presentService(service, tasks, nodeNameMap(db), omitted, defaults);
}

/** GET /services: every service summarised (counts, no task rows), read in one transaction. */
export function readServiceSummaries(db: Db, defaults = DEFAULT_LIFECYCLE): ServiceSummary[] {
  return db.transaction(() => {
    const counts = taskCountsByService(db);
    const errors = lastErrorByService(db);
    const wanted = wantedByService(db);
    return listServices(db).map((s) => presentServiceSummary(s, counts.get(s.name) ?? emptyCounts(), errors.get(s.name) ?? null, defaults, wanted.get(s.name) ?? 0));
  })();
}

/** GET /services?tasks=true: every service with its tasks, each bounded as in readService. */
export function readServices(db: Db, defaults = DEFAULT_LIFECYCLE): ServiceView[] {
  return db.transaction(() => {
    const names = nodeNameMap(db);
    return listServices(db).map((s) => {
      const { tasks, omitted } = listCurrentTasks(db, s.name, SERVICE_HISTORY_LIMIT);
      return presentService(s, tasks, names, omitted, defaults);
    });
  })();
}

/** A page of GET /services/:name/tasks: at most `limit` tasks after the cursor, and the cursor of the next page (null at the end). */
export function readTaskPage(db: Db, serviceName: string, after: TaskCursor | null, limit: number) {
  const rows = listTaskPage(db, serviceName, after, limit + 1);
  const page = rows.slice(0, limit);
  const names = nodeNameMap(db);
  return {
    tasks: page.map((t) => presentTask(t, names)),
    next: rows.length > limit ? encodeCursor(page[page.length - 1]!) : null,
  };
}

/** A node as GET /nodes and GET /state show it; `reserved`: what its live tasks reserve. */
export function presentNode(node: NodeRecord, leaderId: string | undefined, taskCount: number, now: number, reserved?: Capacity) {
  return {
    id: node.id,
    name: node.name,
    address: node.address,
    role: node.role,
    status: node.status,
    availability: node.availability,
    link: node.link,
    leader: node.id === leaderId,
    uptimeSeconds: node.status === 'READY' ? seconds(now, node.startedAt) : null,
    lastSeenAt: iso(node.lastSeenAt),
    tasks: taskCount,
    ...nodePlacementFields(node, reserved),
  };
}

export function readNodes(db: Db, now: number) {
  const { nodes, liveByNode, reservedByNode: reserved, leaderId } = stateRows(db);
  return nodes.map((n) => presentNode(n, leaderId, liveByNode.get(n.id) ?? 0, now, reserved.get(n.id)));
}

/**
 * Containers GET /state lists by default; past it, `containerCounts` still
 * counts them all (more on request with `?limit=`, or per service, paged, on
 * GET /services/:name/tasks). 100 rather than 1,000: at 1,000 containers
 * the list alone is some 270 KiB, more than the rest of the answer at 1,000
 * nodes, and the default answer is read most (benchmarks.md §13).
 */
export const STATE_CONTAINERS_LIMIT = 100;

/** What GET /state shows that is derived from the task rows: kept while only other rows change. */
interface TaskRows {
  counts: Map<string, TaskCounts>;
  errors: Map<string, string>;
  liveByNode: Map<string, number>;
  reservedByNode: Map<string, Capacity>;
  /** Tasks wanted running, by service: a global service's replicas. */
  wantedByService: Map<string, number>;
  containerCounts: ReturnType<typeof liveContainerCounts>;
  /** The first containers in service, slot order, as many as the largest limit asked for since the last change. */
  containers: TaskRecord[];
  containersLimit: number;
}

interface StateRows extends TaskRows {
  version: ReadVersion;
  nodes: NodeRecord[];
  services: ServiceRecord[];
  /** This node's id and its pre-pull status (node-local, not replicated). */
  localNodeId: string | undefined;
  prepull: PrepullStatus[];
  leaderId: string | undefined;
  term: number;
  clusterId: string | undefined;
}

const stateCache = new WeakMap<Db, StateRows>();

/**
 * The rows behind GET /state and GET /nodes, read in one transaction and
 * kept until they change (database/read-version.ts: a change applied, the
 * leader, this node's pre-pull status), not at every commit: the voting
 * thread commits its own bookkeeping several times a second, and a busy
 * cluster is read far more often than changed. What is derived from the
 * tasks (counts over the whole table, the longest part at 100,000 tasks) is
 * kept while only nodes change (the leader's node.seen every few seconds).
 * What is kept is bounded: counts computed by SQLite and at most
 * `containersLimit` task rows, never the whole task table. Uptimes and
 * container stats are read per request.
 */
function stateRows(db: Db, containersLimit = 0): StateRows {
  const version = readVersion(db);
  const kept = stateCache.get(db);
  if (kept && kept.version.all === version.all && kept.containersLimit >= containersLimit) return kept;
  const rows: StateRows = db.transaction(() => ({
    version,
    nodes: listNodes(db),
    services: listServices(db),
    ...(kept && kept.version.tasks === version.tasks && kept.containersLimit >= containersLimit ? taskRowsOf(kept) : readTaskRows(db, containersLimit)),
    localNodeId: getLocal(db, 'node_id'),
    prepull: readPrepullStatus(db),
    leaderId: getLocal(db, 'leader_id'),
    term: Number(getLocal(db, 'term') ?? 0),
    clusterId: getMeta(db, 'cluster_id'),
  }))();
  stateCache.set(db, rows);
  return rows;
}

function readTaskRows(db: Db, containersLimit: number): TaskRows {
  return {
    counts: taskCountsByService(db),
    errors: lastErrorByService(db),
    liveByNode: liveTaskCountsByNode(db),
    reservedByNode: reservedByNode(db),
    wantedByService: wantedByService(db),
    containerCounts: liveContainerCounts(db),
    containers: containersLimit > 0 ? listLiveContainerTasks(db, containersLimit) : [],
    containersLimit,
  };
}

function taskRowsOf(rows: StateRows): TaskRows {
  const { counts, errors, liveByNode, reservedByNode, wantedByService, containerCounts, containers, containersLimit } = rows;
  return { counts, errors, liveByNode, reservedByNode, wantedByService, containerCounts, containers, containersLimit };
}

/**
 * GET /state: the whole cluster as this node knows it, from rows read in one
 * transaction so it is consistent. `containers` lists the first
 * `containersLimit` containers (service, slot order); `containerCounts`
 * counts them all, by service and by node, and `containersTruncated` says
 * whether some were left out.
 */
export function readState(db: Db, now: number, containersLimit = STATE_CONTAINERS_LIMIT) {
  const rows = stateRows(db, containersLimit);
  const { nodes, services, leaderId, term, clusterId } = rows;
  const stats = listContainerStats(db);
  const names = new Map(nodes.map((n) => [n.id, n.name]));
  const nodeName = (id: string | null) => (id ? (names.get(id) ?? id) : null);
  const containers = rows.containers.slice(0, containersLimit);
  return {
    cluster: {
      id: clusterId ?? null,
      leader: nodeName(leaderId ?? null),
      leaderId: leaderId ?? null,
      term,
      warnings: managerWarnings(nodes),
    },
    // What this node has pulled ahead is known here only: other nodes' is null.
    nodes: nodes.map((n) => ({
      ...presentNode(n, leaderId, rows.liveByNode.get(n.id) ?? 0, now, rows.reservedByNode.get(n.id)),
      prepull: n.id === rows.localNodeId ? rows.prepull : null,
    })),
    services: services.map((s) => ({
      name: s.name,
      image: s.image,
      ports: s.ports,
      mode: s.mode,
      replicas: replicaCount(s, rows.wantedByService.get(s.name) ?? 0),
      running: rows.counts.get(s.name)?.running ?? 0,
      healthy: rows.counts.get(s.name)?.healthy ?? 0,
      state: s.state,
      version: s.version,
      error: rows.errors.get(s.name) ?? null,
    })),
    containers: containers.map((t) => {
      const sample = stats.get(t.containerId!);
      return {
        id: t.containerId,
        task: t.id,
        service: t.serviceName,
        slot: t.slot,
        node: nodeName(t.nodeId),
        state: t.state,
        desiredState: t.desiredState,
        health: t.health,
        uptimeSeconds: t.state === 'RUNNING' ? seconds(now, t.startedAt) : null,
        cpuPercent: sample?.cpuPercent ?? null,
        memoryBytes: sample?.memoryBytes ?? null,
      };
    }),
    containersTruncated: rows.containerCounts.total > containers.length,
    containerCounts: {
      total: rows.containerCounts.total,
      byService: Object.fromEntries(rows.containerCounts.byService),
      byNode: Object.fromEntries([...rows.containerCounts.byNode].map(([id, n]) => [nodeName(id)!, n])),
    },
  };
}
