import {
  effectiveLifecycle, formatDuration, STOP_GRACE_DEFAULT_MS,
  type HealthcheckSpec, type RestartPolicy, type UpdatePolicy,
} from '../database/lifecycle';
import type { ServiceRecord, ServiceVersion, UpdateStatus } from '../database/queries';
import { presentResources } from './present-placement';

/**
 * A service's lifecycle as the API shows it (docs/rest.md, "Health checks,
 * restarts and updates"): the names POST /services takes, durations as
 * Go-style strings ("5s", "1m30s"), times as ISO strings.
 */

/** The cluster's defaults that fill in what a service leaves out: `deployment.updateParallelism`, `deployment.stopGracePeriodMs` and `deployment.prepull`. */
export interface LifecycleDefaults {
  updateParallelism: number;
  stopGracePeriodMs: number;
  /** Whether a service without its own `prepull` is pulled ahead on every eligible node; false when absent. */
  prepull?: boolean;
}

/** The daemon's own defaults (daemon/config.ts), for callers without a config. */
export const DEFAULT_LIFECYCLE: LifecycleDefaults = { updateParallelism: 2, stopGracePeriodMs: STOP_GRACE_DEFAULT_MS };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The check given, in the form POST /services takes it; null: the image's own, if it has one. */
export function presentHealthcheck(check: HealthcheckSpec | null) {
  if (!check) return null;
  return {
    test: check.test,
    interval: formatDuration(check.intervalMs),
    timeout: formatDuration(check.timeoutMs),
    retries: check.retries,
    startPeriod: formatDuration(check.startPeriodMs),
  };
}

function presentRestart(policy: RestartPolicy) {
  return {
    condition: policy.condition,
    /** null: the back-off (at once, then 1 s, 2 s, 4 s … 10 s). */
    delay: policy.delayMs === null ? null : formatDuration(policy.delayMs),
    maxAttempts: policy.maxAttempts,
    window: formatDuration(policy.windowMs),
  };
}

function presentRollout(policy: UpdatePolicy) {
  return {
    parallelism: policy.parallelism,
    delay: formatDuration(policy.delayMs),
    order: policy.order,
    monitor: formatDuration(policy.monitorMs),
    maxFailureRatio: policy.maxFailureRatio,
    failureAction: policy.failureAction,
    healthyDeadline: formatDuration(policy.healthyDeadlineMs),
    progressDeadline: formatDuration(policy.progressDeadlineMs),
  };
}

function presentUpdateStatus(status: UpdateStatus | null) {
  if (!status) return null;
  return {
    kind: status.kind,
    fromVersion: status.fromVersion,
    toVersion: status.toVersion,
    startedAt: iso(status.startedAt),
    completedAt: iso(status.completedAt),
    message: status.message,
  };
}

/** The service's health check as given, and every policy in effect (the service's own fields, the defaults for the rest). */
export function lifecycleFields(service: ServiceRecord, defaults: LifecycleDefaults) {
  const lifecycle = effectiveLifecycle(service.lifecycle, defaults.updateParallelism, defaults.stopGracePeriodMs);
  return {
    healthcheck: presentHealthcheck(service.healthcheck),
    restart: presentRestart(lifecycle.restart),
    update: presentRollout(lifecycle.update),
    rollback: presentRollout(lifecycle.rollback),
    stopGracePeriod: formatDuration(lifecycle.stopGracePeriodMs),
  };
}

/** The update or rollback under way or last done. */
export function updateStatusField(service: ServiceRecord) {
  return { updateStatus: presentUpdateStatus(service.updateStatus) };
}

/** One entry of GET /services/:name/history. */
export function presentVersion(version: ServiceVersion, currentSpecVersion: number) {
  return {
    version: version.specVersion,
    image: version.image,
    command: version.command,
    env: version.env,
    labels: version.labels,
    healthcheck: presentHealthcheck(version.healthcheck),
    /** The resource limits of that version, memory in bytes ({} when none). */
    limits: presentResources({ limits: version.limits }).limits ?? {},
    /** The secrets that version mounts, with the value versions it pinned. */
    secrets: version.secrets,
    createdAt: iso(version.createdAt),
    current: version.specVersion === currentSpecVersion,
  };
}
