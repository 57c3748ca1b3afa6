import { BicycleError } from './errors';
import type { Db } from './open-database';
import { prepared } from './statements';

/**
 * The cluster-wide bound on replicas (deployment.maxReplicas). 50,000 is
 * about 1.6 times the largest cluster seen in the field (a fuzzer's 31,790)
 * and, at the footprint measured in docs/benchmarks.md ("Scale"), keeps a
 * manager's memory and its list answers within a few hundred MiB with full
 * history; raise it in the configuration for a larger cluster on a larger
 * host.
 */
export const DEFAULT_MAX_REPLICAS = 50_000;

const grouped = (n: number) => n.toLocaleString('en-US');

/** Replicas the cluster would run with service `name` at `replicas`: every other service not being deleted, plus this one. */
export function replicasWith(db: Db, name: string, replicas: number): number {
  const row = prepared(db, "SELECT COALESCE(SUM(replicas), 0) AS n FROM services WHERE name != ? AND state NOT IN ('DELETE', 'DELETING')").get(name) as { n: number };
  return row.n + replicas;
}

/**
 * Refuses (409 REPLICA_LIMIT, naming the limit and the option) a service at
 * `replicas` that would take the cluster over `limit`. Lowering a service
 * that is already over is allowed: the check is on the increase only.
 */
export function requireReplicasWithinLimit(db: Db, name: string, replicas: number, limit: number, current = 0): void {
  if (replicas <= current) return;
  const total = replicasWith(db, name, replicas);
  if (total > limit) {
    throw new BicycleError('REPLICA_LIMIT', `the cluster would run ${grouped(total)} replicas; the limit is ${grouped(limit)} (deployment.maxReplicas)`);
  }
}
