import type { NodeAvailability, NodeLink, NodeRole, NodeStatus } from './node-state';
import type { ServiceState } from './service-state';
import type { DesiredTaskState, TaskState } from './task-state';
import type { OnDisconnect } from './on-disconnect';
import type { HealthcheckSpec, RestartPolicy, UpdatePolicy } from './lifecycle';
import type { NodeFacts, PlacementSpec, ResourceSpec, ServiceMode } from './placement';
import type { TaskHealth } from './task-state';
import type { Role } from './tokens';
import type { SecretRef } from './secrets';

/**
 * The replicated commands: the only way the replicated tables (nodes,
 * services, tasks) change. Every command is plain JSON, carries the time it
 * was decided (`at`, ms since the epoch, chosen by the proposer so that every
 * node applies it identically) and is applied by applyCommand.
 */
export interface ServiceSpec {
  image: string;
  command: string[] | null;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** Published ports (the traffic manager); changing them needs no new containers. */
  ports: PortSpec[];
  /**
   * What a node cut off from the leader does with the replicas (database/on-disconnect.ts);
   * null or absent: the default rule. Like ports, changing it needs no new containers.
   */
  onDisconnect?: OnDisconnect | null;
  /**
   * The health check passed to the engine; absent or null: the image's own (database/lifecycle.ts).
   * Part of what a container is made of: changing it needs new containers.
   */
  healthcheck?: HealthcheckSpec | null;
  /** Lifecycle policies (database/lifecycle.ts), each field optional; absent fields take the defaults. Changing them needs no new containers. */
  restart?: Partial<RestartPolicy> | null;
  update?: Partial<UpdatePolicy> | null;
  rollback?: Partial<UpdatePolicy> | null;
  stopGracePeriodMs?: number | null;
  /** Where replicas may run and how they spread (database/placement.ts); replaced whole when given. Not part of the spec version: a change moves only the replicas that no longer fit. */
  placement?: PlacementSpec | null;
  /** Reservations (what the scheduler counts) and limits (what the engine enforces); replaced whole when given. Limits are part of the spec version. */
  resources?: ResourceSpec | null;
  /** `replicated` (default): `replicas` replicas; `global`: one on every eligible node (replicas is ignored). Fixed at creation. */
  mode?: ServiceMode;
  /** Every eligible node pulls the image when the service is created or its image changes; absent or null: the cluster's `deployment.prepull`. */
  prepull?: boolean | null;
  /**
   * The secrets the containers mount (database/secrets.ts), replaced whole when given; each is pinned to its
   * secret's current version when applied. Part of the spec version: a change needs new containers.
   */
  secrets?: SecretRef[] | null;
}

/**
 * A published port. `ingress`: every node accepts connections on `published`
 * and balances them over the service's replicas on all nodes. `host`: only
 * the nodes that run a replica accept, straight to it. `proxy`: every
 * connection starts with a PROXY protocol header carrying the client's
 * address (v1 text, v2 binary), for applications that read it.
 */
export interface PortSpec {
  published: number;
  target: number;
  protocol: 'tcp';
  mode: 'ingress' | 'host';
  proxy: 'none' | 'v1' | 'v2';
}

/**
 * `ports`, when given, replaces the whole list; `restart`, `update` and
 * `rollback` merge field by field into the service's, and null clears one
 * back to the defaults; `healthcheck: null` returns to the image's own.
 */
export type ServiceChanges = Partial<ServiceSpec> & { replicas?: number };

/**
 * Names the request that proposed a command, so that a retry of it is
 * applied once (docs/voting.md, "Exactly once"). Made by whoever first
 * proposes the command (the REST thread per HTTP request, the deployment
 * thread per batch) and kept on every retry and forward; the state machine
 * remembers the ids of recent commands with their results.
 */
export interface RequestTag {
  /** Unique per request: `key:<Idempotency-Key>` for a client's key, else random. */
  id: string;
  /** What was asked (`POST /services sha256:…`); the same id with another fingerprint is refused. */
  fingerprint?: string;
  /** The client's Idempotency-Key, when it gave one (for messages). */
  key?: string;
  /** Who asked (docs/security.md): a token's name, or `local` for a tokenless loopback client. */
  actor?: string;
  /** The accessor id of the caller's token: applying refuses the command if that token was removed before it committed. */
  accessor?: string;
}

export type Command = CommandBody & { request?: RequestTag };

type CommandBody =
  /** A new cluster's id, the secret that authenticates node-to-node requests, and the token that admits new nodes. */
  | { type: 'cluster.init'; clusterId: string; secret: string; joinToken: string; caCert?: string; at: number }
  /** `bicycle node join-token --rotate`: the new token replaces the old one, which admits nobody from then on. */
  | { type: 'cluster.rotate-join-token'; joinToken: string; at: number }
  | {
      type: 'node.register';
      /** `link` absent: 'raft' (commands from before worker sessions). */
      node: { id: string; name: string; address: string; role: NodeRole; startedAt: number; link?: NodeLink };
      at: number;
    }
  | { type: 'node.set-status'; nodeId: string; status: NodeStatus; at: number }
  | { type: 'node.set-availability'; nodeId: string; availability: NodeAvailability; at: number }
  | { type: 'node.set-role'; nodeId: string; role: NodeRole; at: number }
  /** The node's labels, replaced whole (the REST layer merges `--label-add`/`--label-rm` into the current ones). */
  | { type: 'node.set-labels'; nodeId: string; labels: Record<string, string>; at: number }
  /** What the node's engine says of it (CPUs, memory, OS, architecture, engine version), when it changed. */
  | { type: 'node.set-facts'; nodeId: string; facts: NodeFacts; at: number }
  /** The leader last heard from these nodes at these times (ms since the epoch). */
  | { type: 'node.seen'; seen: Record<string, number>; at: number }
  /** The node leaves the cluster: its row goes, its tasks are replaced elsewhere. */
  | { type: 'node.remove'; nodeId: string; at: number }
  /** `maxReplicas`: the cluster-wide limit the proposer enforced, checked again on apply (absent in commands from before the limit). */
  | { type: 'service.create'; id: string; name: string; spec: ServiceSpec; replicas: number; maxReplicas?: number; at: number }
  | { type: 'service.update'; name: string; changes: ServiceChanges; maxReplicas?: number; at: number }
  | { type: 'service.delete'; name: string; at: number }
  /** Decided from the service at `version`; ignored if the service has changed since (a stale decision). */
  | { type: 'service.set-state'; name: string; state: ServiceState; version: number; reason?: string; at: number }
  /**
   * Back to an earlier spec version (`toVersion`, or the one the current update started from, or the one
   * before the current): its container spec becomes the service's again, and the rollback policy rolls it out.
   * `reason` says why (an update's failure, or a user's request).
   */
  | { type: 'service.rollback'; name: string; toVersion?: number; reason: string; at: number }
  | { type: 'service.remove'; name: string; at: number }
  /** Asks the orchestrator to even out the service's replicas over the nodes (`requested`), or says it is done. */
  | { type: 'service.rebalance'; name: string; requested: boolean; at: number }
  /** `nodeId`: created on that node, ASSIGNED at once (a global service's task, or a replica the scheduler placed in the pass that created it). */
  | { type: 'task.create'; id: string; serviceName: string; slot: number; specVersion: number; nodeId?: string; at: number }
  /** The task takes over another slot (a scale-down keeps the replica in the emptier domain and stops the one in the crowded domain). */
  | { type: 'task.set-slot'; taskId: string; slot: number; at: number }
  /** Why these NEW tasks wait for a node (the scheduler's explanation), or null once they no longer wait; kept in the task's error. */
  | { type: 'task.set-pending'; reasons: Record<string, string | null>; at: number }
  | { type: 'task.assign'; taskId: string; nodeId: string; at: number }
  | {
      type: 'task.observe';
      taskId: string;
      state: TaskState;
      containerId?: string | null;
      error?: string | null;
      exitCode?: number | null;
      startedAt?: number | null;
      /** The container's health as the engine reports it; absent: unchanged. */
      health?: TaskHealth | null;
      at: number;
    }
  | { type: 'task.set-desired'; taskId: string; desiredState: DesiredTaskState; at: number }
  | { type: 'task.remove'; taskId: string; at: number }
  /** An API token (database/tokens.ts): only the SHA-256 of its secret. `expiresAt` null: never expires. */
  | { type: 'token.create'; accessor: string; name: string; role: Role; secretHash: string; expiresAt: number | null; createdBy: string; at: number }
  | { type: 'token.remove'; accessor: string; at: number }
  /**
   * A secret (database/secrets.ts). `value` is sealed (daemon/secret-box.ts) by the proposer with `id` and `name`
   * as associated data: the log never holds the plaintext. An update gives every service that mounts the secret
   * a new spec version (rolled out under its update policy).
   */
  | { type: 'secret.create'; id: string; name: string; value: string; at: number }
  | { type: 'secret.update'; id: string; name: string; value: string; at: number }
  | { type: 'secret.remove'; name: string; at: number }
  | { type: 'batch'; commands: Command[] };

export type CommandType = Command['type'];
