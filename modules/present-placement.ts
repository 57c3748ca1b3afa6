import type { Db } from '../database/open-database';
import type { NodeFacts, ResourceSpec } from '../database/placement';
import type { NodeRecord, ServiceRecord } from '../database/queries';
import { prepared } from '../database/statements';

/**
 * Placement as the API shows it (docs/rest.md, "Placement and resources"):
 * a service's placement, resources (memory in bytes under the names POST
 * takes), mode and effective pre-pull; a node's labels, facts, what its
 * tasks reserve and what is left.
 */

/** CPUs and bytes: what a node's tasks reserve, or what is left of its facts. */
export interface Capacity {
  cpus: number;
  memoryBytes: number;
}

/**
 * What the live tasks (wanted RUNNING, not ended) on each node reserve,
 * summed, as the scheduler counts them: one row per node and service, so
 * bounded by those, not by tasks.
 */
export function reservedByNode(db: Db): Map<string, Capacity> {
  // Only services that reserve something count: most reserve nothing, and their tasks need not be read.
  const reserving = (prepared(db, 'SELECT name, resources FROM services WHERE resources IS NOT NULL').all() as { name: string; resources: string }[])
    .filter((s) => {
      const r = (JSON.parse(s.resources) as ResourceSpec).reservations;
      return Boolean(r?.cpus || r?.memoryBytes);
    })
    .map((s) => s.name);
  if (reserving.length === 0) return new Map();
  const rows = prepared(db,
    `SELECT t.node_id AS nodeId, s.resources AS resources, count(*) AS n FROM tasks t JOIN services s ON s.name = t.service_name
     WHERE t.service_name IN (SELECT value FROM json_each(?))
       AND t.node_id IS NOT NULL AND t.desired_state = 'RUNNING' AND t.state NOT IN ('COMPLETE', 'SHUTDOWN', 'FAILED', 'ORPHANED')
     GROUP BY t.node_id, t.service_name`,
  ).all(JSON.stringify(reserving)) as { nodeId: string; resources: string | null; n: number }[];
  const out = new Map<string, Capacity>();
  for (const row of rows) {
    const reservations = (row.resources ? (JSON.parse(row.resources) as ResourceSpec) : {}).reservations;
    const sum = out.get(row.nodeId) ?? { cpus: 0, memoryBytes: 0 };
    sum.cpus += (reservations?.cpus ?? 0) * row.n;
    sum.memoryBytes += (reservations?.memoryBytes ?? 0) * row.n;
    out.set(row.nodeId, sum);
  }
  // Sums of decimal CPUs (0.1 × 3) are shown as given, not as 0.30000000000000004.
  for (const sum of out.values()) sum.cpus = Math.round(sum.cpus * 1000) / 1000;
  return out;
}

/** How many tasks of each service are wanted running: a global service's replica count. */
export function wantedByService(db: Db): Map<string, number> {
  const rows = prepared(db, "SELECT service_name AS name, count(*) AS n FROM tasks WHERE desired_state = 'RUNNING' GROUP BY service_name").all() as { name: string; n: number }[];
  return new Map(rows.map((r) => [r.name, r.n]));
}

/** A service's placement fields. `prepull` is the setting in effect: its own, else the cluster's `deployment.prepull`. */
export function placementFields(service: ServiceRecord, prepullDefault: boolean) {
  return {
    mode: service.mode,
    placement: service.placement,
    resources: presentResources(service.resources),
    prepull: service.prepull ?? prepullDefault,
  };
}

/** `memoryBytes` shown as `memory` (bytes), the name POST takes: a service read back can be sent again. */
export function presentResources(resources: ResourceSpec) {
  const out: { reservations?: { cpus?: number; memory?: number }; limits?: { cpus?: number; memory?: number; pids?: number } } = {};
  const { reservations, limits } = resources;
  if (reservations) out.reservations = dropUndefined({ cpus: reservations.cpus, memory: reservations.memoryBytes });
  if (limits) out.limits = dropUndefined({ cpus: limits.cpus, memory: limits.memoryBytes, pids: limits.pids });
  return out;
}

function dropUndefined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A node's labels and facts, what its live tasks reserve, and what is free of its facts (null until it has reported them). */
export function nodePlacementFields(node: NodeRecord, reserved: Capacity | undefined) {
  const used = reserved ?? { cpus: 0, memoryBytes: 0 };
  return {
    labels: node.labels,
    facts: presentFacts(node.facts),
    reserved: used,
    free: node.facts
      ? { cpus: Math.round((node.facts.cpus - used.cpus) * 1000) / 1000, memoryBytes: node.facts.memoryBytes - used.memoryBytes }
      : null,
  };
}

function presentFacts(facts: NodeFacts | null) {
  if (!facts) return null;
  return { cpus: facts.cpus, memoryBytes: facts.memoryBytes, os: facts.os, arch: facts.arch, engineVersion: facts.engineVersion };
}
