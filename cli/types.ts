// The daemon's REST shapes, as the CLI reads them. Kept here rather than
// imported from the daemon so the CLI depends only on the wire contract.

export type ServiceState =
  | 'NEW' | 'DEPLOYING' | 'RUNNING' | 'DEGRADED'
  | 'UPDATING' | 'PAUSED' | 'ROLLING_BACK' | 'ROLLED_BACK'
  | 'DELETE' | 'DELETING';
/** A running task's health as the engine reports it; null until it has. */
export type TaskHealth = 'none' | 'starting' | 'healthy' | 'unhealthy';
export type TaskState =
  | 'NEW' | 'ASSIGNED' | 'STARTING' | 'RUNNING'
  | 'COMPLETE' | 'SHUTDOWN' | 'FAILED' | 'ORPHANED';
export type DesiredState = 'RUNNING' | 'SHUTDOWN';

export interface Task {
  id: string;
  slot: number;
  node: string | null;
  nodeId: string | null;
  state: TaskState;
  desiredState: DesiredState;
  containerId: string | null;
  error: string | null;
  /** Absent from older daemons (read as null). */
  health?: TaskHealth | null;
  version: number;
  /** Not in the contract; read when present (see converge.ts). */
  specVersion?: number;
  createdAt: string;
  updatedAt: string;
}

export type PortMode = 'ingress' | 'host';
export type PortProxy = 'none' | 'v1' | 'v2';

/** A published port as the daemon shows it (every field present) and as `bicycle` sends it. */
export interface PublishedPort {
  published: number;
  target: number;
  protocol: 'tcp';
  /** ingress: every node accepts and balances over all replicas; host: only nodes running a replica. */
  mode: PortMode;
  /** A PROXY protocol header (v1 text, v2 binary) before each connection's bytes, or none. */
  proxy: PortProxy;
}

/** A health check as the daemon shows it and takes it: durations as text ("30s"). */
export interface Healthcheck {
  /** ["CMD", arg…] | ["CMD-SHELL", "command"] | ["NONE"] */
  test: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  startPeriod?: string;
}

export interface RestartPolicy {
  condition?: 'any' | 'on-failure' | 'none';
  /** null: the back-off. */
  delay?: string | null;
  maxAttempts?: number;
  window?: string;
}

export interface RolloutPolicy {
  parallelism?: number;
  delay?: string;
  order?: 'stop-first' | 'start-first';
  monitor?: string;
  maxFailureRatio?: number;
  failureAction?: 'pause' | 'continue' | 'rollback';
  healthyDeadline?: string;
  progressDeadline?: string;
}

/** The update or rollback under way or last done. */
export interface UpdateStatus {
  kind: 'update' | 'rollback';
  fromVersion: number;
  toVersion: number;
  startedAt: string;
  completedAt: string | null;
  /** Why it paused or rolled back. */
  message: string | null;
}

/** One entry of GET /services/:name/history. */
export interface ServiceVersion {
  version: number;
  image: string;
  command: string[] | null;
  env: Record<string, string>;
  labels: Record<string, string>;
  healthcheck: Healthcheck | null;
  createdAt: string;
  current: boolean;
}

/** Where a service's replicas may run (as the daemon shows it and takes it). */
export interface Placement {
  constraints?: string[];
  preferences?: { spread: string }[];
  maxReplicasPerNode?: number;
  maxPerValue?: number;
  strategy?: 'spread' | 'binpack' | 'round-robin' | 'epvm';
}

/** Reservations and limits; memory in bytes as the daemon shows it, bytes or a size ("512M") as it takes it. */
export interface Resources {
  reservations?: { cpus?: number; memory?: number | string };
  limits?: { cpus?: number; memory?: number | string; pids?: number };
}

export interface Service {
  name: string;
  image: string;
  replicas: number;
  running: number;
  /** Running and healthy or without a check; absent from older daemons (read as running). */
  healthy?: number;
  state: ServiceState;
  version: number;
  /** Not in the contract; read when present (see converge.ts). */
  specVersion?: number;
  /** True from a rebalance request until the orchestrator finds the service even. */
  rebalancing?: boolean;
  command: string[] | null;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** In order of published port; absent from older daemons (read as none). */
  ports?: PublishedPort[];
  /** What a node cut off from the leader does with the replicas; absent from older daemons. */
  onDisconnect?: 'stop' | 'keep';
  /** The check given (null: the image's own) and the policies in effect; absent from older daemons. */
  healthcheck?: Healthcheck | null;
  restart?: RestartPolicy;
  update?: RolloutPolicy;
  rollback?: RolloutPolicy;
  stopGracePeriod?: string;
  updateStatus?: UpdateStatus | null;
  /** Absent from older daemons (read as replicated, no placement, no resources). A global service's replicas are its tasks wanted running. */
  mode?: 'replicated' | 'global';
  placement?: Placement;
  resources?: Resources;
  /** Whether the image is pulled ahead on every eligible node (the setting in effect). */
  prepull?: boolean;
  /** The secrets its containers mount (never their values); absent from older daemons. */
  secrets?: ServiceSecret[];
  createdAt: string;
  updatedAt: string;
  /** Its current tasks and a bounded history, newest first; every task is on GET /services/:name/tasks. */
  tasks: Task[];
  /** Older dead tasks left out of `tasks`; absent from older daemons. */
  tasksOmitted?: number;
}

/** A service as GET /services lists it: its tasks counted, not listed. */
export type ServiceSummary = Omit<Service, 'tasks' | 'tasksOmitted'> & {
  /** Absent from older daemons, which listed every task instead. */
  taskCounts?: { total: number; byState: Partial<Record<string, number>> };
  error?: string | null;
};

/** Body of POST /services. */
export interface ServiceSpec {
  name: string;
  image: string;
  /** Left out for a global service. */
  replicas?: number;
  command?: string[];
  env?: Record<string, string>;
  labels?: Record<string, string>;
  ports?: PublishedPort[];
  onDisconnect?: 'stop' | 'keep';
  healthcheck?: Healthcheck;
  restart?: RestartPolicy;
  update?: RolloutPolicy;
  rollback?: RolloutPolicy;
  stopGracePeriod?: string;
  placement?: Placement;
  resources?: Resources;
  mode?: 'replicated' | 'global';
  prepull?: boolean;
  /** Target and mode may be left out (/run/secrets/<source>, 0444). */
  secrets?: Partial<Omit<ServiceSecret, 'version'>>[];
}

/** A secret a service mounts: which, where in the container, with what mode, and the version of its value. */
export interface ServiceSecret {
  source: string;
  target: string;
  mode: string;
  version: number;
}

/** A secret as GET /secrets lists it (never its value). */
export interface Secret {
  name: string;
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  /** The services that mount it. */
  services: string[];
}

/** GET /node/lock, POST /node/unlock: this node's autolock. */
export interface NodeLock {
  /** The secrets key file is sealed by a passphrase. */
  autolock: boolean;
  /** Not opened in memory yet: secrets cannot be created or mounted on this node. */
  locked: boolean;
}

/** Body of PATCH /services/:name: only the fields that change; onDisconnect null returns to the default rule. */
export type ServicePatch = Partial<Omit<ServiceSpec, 'name' | 'onDisconnect'>> & { onDisconnect?: 'stop' | 'keep' | null };

export type Availability = 'active' | 'drain' | 'pause';

export interface ClusterNode {
  id: string;
  name: string;
  address: string;
  role: string;
  /** READY, DOWN or UNKNOWN. */
  status: string;
  /** active, drain or pause. */
  availability: string;
  leader: boolean;
  /** null while the node is not READY. */
  uptimeSeconds: number | null;
  /** ISO time the node was last heard from; absent from older daemons. */
  lastSeenAt?: string | null;
  tasks: number;
  /** Absent from older daemons. */
  labels?: Record<string, string>;
  /** What the node's engine reports; null until it has. */
  facts?: { cpus: number; memoryBytes: number; os: string; arch: string; engineVersion: string } | null;
  /** What its live tasks reserve, and what is left of its facts (null without facts). */
  reserved?: { cpus: number; memoryBytes: number };
  free?: { cpus: number; memoryBytes: number } | null;
  /** In GET /state, on the node answering: what it pulled ahead; null for other nodes. */
  prepull?: { service: string; image: string; state: 'pulling' | 'done' | 'failed'; error: string | null }[] | null;
}

/** Body of PATCH /nodes/:id. */
export interface NodePatch {
  availability?: Availability;
  labels?: Record<string, string>;
  labelAdd?: Record<string, string>;
  labelRm?: string[];
}

/** GET /cluster/join-token */
export interface JoinToken {
  token: string;
  /** The daemon's hint: `--join <its advertised address> --token TOKEN`. */
  join?: string;
}

export interface StateContainer {
  id: string;
  service: string;
  slot: number;
  node: string | null;
  state: string;
  /** null while the task is not RUNNING. */
  uptimeSeconds: number | null;
  cpuPercent: number | null;
  memoryBytes: number | null;
}

export interface ClusterState {
  cluster: {
    id: string;
    /** The leader's name (an id when the daemon does not know its name). */
    leader: string | null;
    leaderId?: string | null;
    term: number;
    /** What a user should hear about the cluster, e.g. too few managers; absent from older daemons. */
    warnings?: string[];
  };
  nodes: ClusterNode[];
  /** `error`: why the service's latest failed task failed, when the daemon says. */
  services: (Pick<Service, 'name' | 'image' | 'replicas' | 'running' | 'healthy' | 'state' | 'ports'> & { error?: string | null })[];
  containers: StateContainer[];
  /** More containers than listed (GET /state lists 100 unless ?limit= says otherwise); absent from older daemons. */
  containersTruncated?: boolean;
  containerCounts?: { total: number; byService: Record<string, number>; byNode: Record<string, number> };
}
