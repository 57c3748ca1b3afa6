import type { ObservedContainer } from './agent-reconcile';
import type { HealthcheckSpec } from '../../database/lifecycle';
import type { TaskHealth } from '../../database/task-state';

/** What the agent asks the engine to run for one task. */
export interface ContainerSpec {
  name: string;
  image: string;
  command: string[] | null;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** The health check; absent or null: the image's own, if it has one. */
  healthcheck?: HealthcheckSpec | null;
  /** The resolver the container asks (this node's, for service names) and the domains it searches; the engine's own when absent. */
  dns?: { servers: string[]; search: string[] };
  /** What the engine enforces (the service's `resources.limits`): CPUs as a decimal number of cores, memory in bytes, processes; absent: none. */
  limits?: { cpus?: number; memoryBytes?: number; pids?: number };
  /** Files bind-mounted read-only into the container (its secrets, daemon/deployment/secret-files.ts); none when absent. */
  mounts?: SecretMount[];
}

/** A file of this host (on the daemon's tmpfs) seen read-only at `target` in the container. */
export interface SecretMount {
  source: string;
  target: string;
}

/** The engine's default bridge network, where containers get their addresses. */
export interface BridgeNetwork {
  /** The bridge's address on this node, the containers' gateway. */
  gateway: string;
  /** CIDR, e.g. 172.17.0.0/16. */
  subnet: string;
}

export interface ContainerStatus {
  startedAt: number | null;
  health: TaskHealth;
  /** What the health check printed last (trimmed), when it has run. */
  healthOutput: string | null;
}

export interface RuntimeEvent {
  action: string;
  containerId: string;
}

/**
 * The container engine as the agent needs it. Every method is idempotent
 * where the engine allows: removing a missing container succeeds, creating a
 * container whose name exists fails with NameConflictError (so a restarted
 * agent adopts instead of duplicating).
 */
export interface ContainerRuntime {
  /** Containers (running or not) carrying all of these labels. */
  list(labels: Record<string, string>): Promise<ObservedContainer[]>;
  /** Creates the container, pulling the image if the engine lacks it, and returns its id. Throws ImagePullError, NameConflictError. */
  create(spec: ContainerSpec): Promise<string>;
  /** Pulls the image (all of it, as the engine reports progress to the end); resolves once the engine has it. Throws ImagePullError. */
  pull(image: string): Promise<void>;
  /** Starts a created container; returns when it started (ms since the epoch, as the engine confirmed it). */
  start(containerId: string): Promise<number>;
  /** When a running container started (ms since the epoch, null if it does not run), its health, and its health check's last output. */
  inspect(containerId: string): Promise<ContainerStatus>;
  /** Stops (grace period, then kill) and removes; succeeds if it is already gone. */
  remove(containerId: string, gracePeriodMs: number): Promise<void>;
  /** The default bridge network's gateway and subnet, or null if the engine has none. */
  bridge(): Promise<BridgeNetwork | null>;
  /** Calls onEvent for container events with these labels until the returned function is called; onError when the stream breaks. */
  watch(labels: Record<string, string>, onEvent: (event: RuntimeEvent) => void, onError: (error: Error) => void): Promise<() => void>;
}

export class ImagePullError extends Error {
  constructor(readonly image: string, reason: string) {
    super(`image ${image} is not on this node and could not be pulled: ${reason}`);
    this.name = 'ImagePullError';
  }
}

export class NameConflictError extends Error {
  constructor(readonly containerName: string) {
    super(`a container named ${containerName} already exists`);
    this.name = 'NameConflictError';
  }
}
