import type { Strategy } from '../database/placement';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import { BicycleError } from './errors';
import { DEFAULT_MAX_REPLICAS } from '../database/replica-limit';
import { JOIN_TOKEN_PATTERN } from './tls/join-token';

/** The daemon's configuration, as every thread receives it (plain data). */
export interface DaemonConfig {
  /** This node's name, unique in the cluster. */
  name: string;
  /** REST listener, host:port. Loopback by default; off loopback every request needs an API token (docs/security.md). */
  listen: string;
  /** Address other nodes and clients should use to reach this node (defaults to `listen`). */
  advertise: string;
  /** Where the database and the daemon log live. */
  dataDir: string;
  /**
   * Where this node's state lives: `persisted`, SQLite in the data directory (survives restarts);
   * `memory`, a private directory on a RAM filesystem for the life of the process, so every start is
   * a new node (docs/daemon.md, "The state store").
   */
  store: 'memory' | 'persisted';
  /** The local Docker engine's socket. */
  dockerSocket: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  /** A member's address to join an existing cluster through (first start only); absent: found a new cluster. */
  join?: string;
  /** The join token (`bicycle node join-token` on a member); needed with `join`. */
  token?: string;
  /** Managers vote and can lead; workers only run tasks. */
  role: 'manager' | 'worker';
  /** A fixed cluster listed in the configuration: every member, this node included (instead of join). */
  peers?: Array<{ name: string; address: string; role: 'manager' | 'worker' }>;
  /** The shared secret of a fixed cluster (with `peers`): node-to-node requests carry it. */
  clusterSecret?: string;
  /**
   * Plain HTTP on a listener off loopback, for the API and between nodes (the cluster secret authenticates
   * peers, in clear). Without it such a listener is HTTPS and node-to-node traffic mutual TLS (docs/security.md).
   */
  insecure: boolean;
  /** A certificate (PEM, with its chain) and key the API listener presents instead of this node's own (peers are still authenticated by theirs). */
  tlsCert?: string;
  tlsKey?: string;
  /**
   * Let an admin cut this node's links to peers on demand (POST /debug/links), for experiments with
   * partitions (docs/voting.md, "Cutting links on demand"). Off by default; cuts live in memory only.
   */
  debugLinks: boolean;
  /**
   * Keep the secrets key file locked by a passphrase (docs/security.md, "Autolock"): given at start in
   * BICYCLE_UNLOCK_KEY or the file `unlockKeyFile` names (never in this configuration), or later with `bicycle node unlock`.
   */
  autolock: boolean;
  /** A file holding the autolock passphrase (its first line), read at start. */
  unlockKeyFile?: string;
  /** Certificate lifetimes (docs/security.md, "TLS and node identity"). */
  tls: {
    /** A node certificate's validity, in ms; renewed at two thirds of it. */
    nodeCertLifetimeMs: number;
    /** The cluster CA's validity (made by --init), in ms. */
    caLifetimeMs: number;
  };
  /**
   * API authentication (docs/security.md): `auto`, a request arriving on a loopback address needs no token
   * (every other one does); `required`, every request needs one, loopback included.
   */
  auth: 'auto' | 'required';
  /** Raft timing and host-loss detection. */
  voting: {
    /** One Raft tick, in ms: heartbeats go out every heartbeatTicks ticks. */
    tickMs: number;
    /** Election timeout, drawn from [electionTicks, 2 × electionTicks) ticks. */
    electionTicks: number;
    heartbeatTicks: number;
    /**
     * Heartbeats to learners (workers) go out every this many ticks (default 10: once a second): they
     * take no part in elections or commits, and a commit reaches them at once anyway. Fewer heartbeats
     * keep idle workers cheap for the leader (docs/scale.md). At most half of hostGraceMs.
     */
    learnerHeartbeatTicks?: number;
    /** A node not heard from for this long is marked DOWN and its tasks move, in ms. */
    hostGraceMs: number;
    /** Applied entries between two snapshots (log compaction). */
    snapshotEveryEntries: number;
    /** How long a follower waits for the leader when forwarding a write, in ms. */
    forwardTimeoutMs: number;
  };
  /** Deployment tuning. */
  deployment: {
    /** Containers created and started at once by the agent. */
    concurrency: number;
    /** Replicas replaced at once during a rolling update. */
    updateParallelism: number;
    /** Full reconcile pass even without a change note, in ms. */
    resyncIntervalMs: number;
    /** Time a container gets to stop after SIGTERM before it is killed, in ms. */
    stopGracePeriodMs: number;
    /** Run an init process as PID 1 in each container, so that signals reach the command. */
    init: boolean;
    /** Move replicas onto nodes that join or come back, a few at a time, without being asked. */
    autoRebalance: boolean;
    /** Replicas in the whole cluster (every service not being deleted), at most. */
    maxReplicas: number;
    /** How the scheduler chooses among the nodes that fit, for services that name no strategy (docs/deployment.md, "Placement"). */
    strategy: Strategy;
    /** Every eligible node pulls a service's image ahead, when the service is created or its image changes, unless the service says (`prepull`). */
    prepull: boolean;
  };
  /** The traffic manager: published ports on every node, service names for containers. */
  traffic: {
    /** Serve published ports (hold them, install the kernel rules, forward). */
    enabled: boolean;
    /** Let the kernel (iptables NAT) carry connections to local replicas; off, every connection takes the Node.js hop. */
    kernel: boolean;
    /** How long a replica is out of every node's backend set before its container is stopped, in ms. */
    deregisterDelayMs: number;
    /** How long the hop waits for one replica to accept before trying the next, in ms. */
    connectTimeoutMs: number;
    /** How often each peer that runs replicas is probed; two misses and it gets no new connections from here, in ms. */
    peerProbeIntervalMs: number;
    /** Answer service names (`web`, `web.bicycle`) for containers, on the engine's bridge gateway. */
    dns: boolean;
  };
  monitoring: {
    /** How often container CPU and memory are sampled, in ms. */
    statsIntervalMs: number;
  };
}

const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7070')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0-65535');

const nodeName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, _ . - starting with a letter or digit');

const schema = z
  .object({
    name: nodeName,
    listen: hostPort,
    advertise: hostPort.optional(),
    dataDir: z.string().min(1, 'must not be empty'),
    store: z.enum(['memory', 'persisted'], 'must be memory or persisted'),
    dockerSocket: z.string().min(1, 'must not be empty'),
    logLevel: z.enum(['error', 'warn', 'info', 'debug']),
    join: hostPort.optional(),
    token: z.string().regex(JOIN_TOKEN_PATTERN, 'must be a join token as printed by `bicycle node join-token` (BCT2-…)').optional(),
    role: z.enum(['manager', 'worker']),
    peers: z
      .array(z.strictObject({ name: nodeName, address: hostPort, role: z.enum(['manager', 'worker']).default('manager') }))
      .min(1, 'must list at least this node')
      .optional(),
    clusterSecret: z.string().min(16, 'must be at least 16 characters').optional(),
    insecure: z.union([z.boolean(), z.enum(['true', 'false', '1', '0'], 'must be true or false')]).transform((v) => v === true || v === 'true' || v === '1'),
    tlsCert: z.string().min(1, 'must be a file path').optional(),
    tlsKey: z.string().min(1, 'must be a file path').optional(),
    debugLinks: z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])], { error: 'must be true or false' }).transform((v) => v === true || v === 'true' || v === '1'),
    autolock: z.union([z.boolean(), z.enum(['true', 'false', '1', '0'], 'must be true or false')]).transform((v) => v === true || v === 'true' || v === '1'),
    unlockKeyFile: z.string().min(1, 'must be a file path').optional(),
    tls: z
      .object({
        nodeCertLifetimeMs: z.number().int().min(10_000).max(10 * 365 * 86_400_000),
        caLifetimeMs: z.number().int().min(60_000).max(100 * 365 * 86_400_000),
      })
      .strict(),
    auth: z.enum(['auto', 'required']),
    voting: z
      .object({
        tickMs: z.number().int().min(10).max(10_000),
        electionTicks: z.number().int().min(2).max(1000),
        heartbeatTicks: z.number().int().min(1).max(100),
        learnerHeartbeatTicks: z.number().int().min(1).max(1000),
        hostGraceMs: z.number().int().min(500).max(3_600_000),
        snapshotEveryEntries: z.number().int().min(10).max(10_000_000),
        forwardTimeoutMs: z.number().int().min(100).max(600_000),
      })
      .strict()
      .refine((v) => v.heartbeatTicks < v.electionTicks, { message: 'heartbeatTicks must be less than electionTicks', path: ['heartbeatTicks'] })
      .refine((v) => v.learnerHeartbeatTicks >= v.heartbeatTicks, { message: 'learnerHeartbeatTicks must be at least heartbeatTicks', path: ['learnerHeartbeatTicks'] })
      .refine((v) => 2 * v.learnerHeartbeatTicks * v.tickMs <= v.hostGraceMs, {
        message: 'learnerHeartbeatTicks × tickMs must be at most half of hostGraceMs, or a quiet worker would be taken for lost',
        path: ['learnerHeartbeatTicks'],
      }),
    deployment: z
      .object({
        concurrency: z.number().int().min(1).max(256),
        updateParallelism: z.number().int().min(1).max(1000),
        resyncIntervalMs: z.number().int().min(100).max(600_000),
        stopGracePeriodMs: z.number().int().min(0).max(3_600_000),
        init: z.boolean(),
        autoRebalance: z.boolean(),
        maxReplicas: z.number().int().min(1).max(10_000_000),
        strategy: z.enum(['spread', 'binpack', 'round-robin', 'epvm']),
        prepull: z.boolean(),
      })
      .strict(),
    traffic: z
      .object({
        enabled: z.boolean(),
        kernel: z.boolean(),
        deregisterDelayMs: z.number().int().min(0).max(600_000),
        connectTimeoutMs: z.number().int().min(50).max(60_000),
        peerProbeIntervalMs: z.number().int().min(50).max(60_000),
        dns: z.boolean(),
      })
      .strict(),
    monitoring: z.object({ statsIntervalMs: z.number().int().min(500).max(3_600_000) }).strict(),
  })
  .strict();

/** The embedded defaults: `bicycled` with no config file and no flags runs on these. */
export function defaultConfig(): z.input<typeof schema> {
  return {
    name: hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 63) || 'bicycle',
    listen: '127.0.0.1:7070',
    dataDir: 'data',
    store: 'persisted',
    dockerSocket: '/var/run/docker.sock',
    logLevel: 'info',
    role: 'manager',
    auth: 'auto',
    insecure: false,
    debugLinks: false,
    autolock: false,
    tls: { nodeCertLifetimeMs: 90 * 86_400_000, caLifetimeMs: 20 * 365 * 86_400_000 },
    voting: { tickMs: 100, electionTicks: 5, heartbeatTicks: 1, learnerHeartbeatTicks: 10, hostGraceMs: 3000, snapshotEveryEntries: 1000, forwardTimeoutMs: 10_000 },
    deployment: { concurrency: 8, updateParallelism: 2, resyncIntervalMs: 5000, stopGracePeriodMs: 10_000, init: true, autoRebalance: false, maxReplicas: DEFAULT_MAX_REPLICAS, strategy: 'spread', prepull: false },
    traffic: { enabled: true, kernel: true, deregisterDelayMs: 2000, connectTimeoutMs: 1000, peerProbeIntervalMs: 250, dns: true },
    monitoring: { statsIntervalMs: 5000 },
  };
}

/** Top-level options that flags and BICYCLE_* variables may set. */
export const OVERRIDABLE = {
  name: 'BICYCLE_NAME',
  listen: 'BICYCLE_LISTEN',
  advertise: 'BICYCLE_ADVERTISE',
  dataDir: 'BICYCLE_DATA_DIR',
  store: 'BICYCLE_STORE',
  dockerSocket: 'BICYCLE_DOCKER_SOCKET',
  logLevel: 'BICYCLE_LOG_LEVEL',
  join: 'BICYCLE_JOIN',
  token: 'BICYCLE_JOIN_TOKEN',
  role: 'BICYCLE_ROLE',
  auth: 'BICYCLE_AUTH',
  insecure: 'BICYCLE_INSECURE',
  tlsCert: 'BICYCLE_TLS_CERT',
  tlsKey: 'BICYCLE_TLS_KEY',
  debugLinks: 'BICYCLE_DEBUG_LINKS',
  autolock: 'BICYCLE_AUTOLOCK',
  unlockKeyFile: 'BICYCLE_UNLOCK_KEY_FILE',
} as const;

export type Overrides = Partial<Record<keyof typeof OVERRIDABLE, string>>;

/**
 * Builds the configuration: embedded defaults, then the config file (if any),
 * then BICYCLE_* environment variables, then flags. Throws INVALID_ARGUMENT
 * naming the option and what it accepts.
 */
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv; flags?: Overrides }): DaemonConfig {
  const merged: Record<string, unknown> = defaultConfig();
  if (options.file) {
    let fromFile: unknown;
    try {
      fromFile = JSON.parse(readFileSync(options.file, 'utf8'));
    } catch (error) {
      throw new BicycleError('INVALID_ARGUMENT', `cannot read config file ${options.file}: ${(error as Error).message}`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) {
      throw new BicycleError('INVALID_ARGUMENT', `config file ${options.file} must hold a JSON object`);
    }
    for (const [key, value] of Object.entries(fromFile)) {
      const base = merged[key];
      merged[key] = isPlainObject(base) && isPlainObject(value) ? { ...base, ...value } : value;
    }
  }
  const env = options.env ?? {};
  for (const [key, variable] of Object.entries(OVERRIDABLE)) {
    const value = env[variable];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  for (const [key, value] of Object.entries(options.flags ?? {})) {
    if (value !== undefined) merged[key] = value;
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const option = issue.path.join('.') || '(root)';
    const message = issue.code === 'unrecognized_keys' ? `unknown option(s): ${issue.keys.join(', ')}` : issue.message;
    throw new BicycleError('INVALID_ARGUMENT', `invalid configuration: ${option}: ${message}`);
  }
  const config = parsed.data;
  if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) throw new BicycleError('INVALID_ARGUMENT', 'invalid configuration: tlsCert and tlsKey go together: give both --tls-cert and --tls-key, or neither');
  if (config.join && !config.token) throw new BicycleError('INVALID_ARGUMENT', 'invalid configuration: token: is required with join (get it with `bicycle node join-token` on a member)');
  if (config.peers) {
    if (config.store === 'memory') {
      // A fixed cluster's node id is its name: a restarted memory node would be the same voter with its log and vote forgotten.
      throw new BicycleError('INVALID_ARGUMENT', 'invalid configuration: store: memory does not go with peers: a fixed cluster names its nodes, so a restarted memory node would come back as the same member with an empty log; use --store persisted, or found a cluster with --init and join the others');
    }
    if (config.join) throw new BicycleError('INVALID_ARGUMENT', 'invalid configuration: peers and join both given: list a fixed cluster in peers, or join one, not both');
    if (!config.clusterSecret) throw new BicycleError('INVALID_ARGUMENT', 'invalid configuration: clusterSecret: is required with peers (the same on every member)');
    if (!config.insecure && !isLoopbackListen(config.listen)) {
      throw new BicycleError(
        'INVALID_ARGUMENT',
        `invalid configuration: insecure: a fixed cluster (peers) has no cluster CA, so its nodes would talk in clear HTTP on ${config.listen}, which is not loopback; ` +
          'found a cluster with --init and join the others with `bicycle node join-token` (mutual TLS), or accept clear traffic with --insecure',
      );
    }
    const self = config.peers.find((p) => p.name === config.name);
    if (!self) throw new BicycleError('INVALID_ARGUMENT', `invalid configuration: peers: this node (${config.name}) is not listed; add it or set name`);
    if (!config.peers.some((p) => p.role === 'manager')) throw new BicycleError('INVALID_ARGUMENT', 'invalid configuration: peers: at least one must be a manager');
    const names = new Set(config.peers.map((p) => p.name));
    if (names.size !== config.peers.length) throw new BicycleError('INVALID_ARGUMENT', 'invalid configuration: peers: names must be unique');
    return { ...config, role: self.role, advertise: config.advertise ?? self.address };
  }
  const advertise = config.advertise ?? config.listen;
  // A wildcard address is fine for a cluster of one; a node that joins must say where the others reach it.
  if (config.join && /^(0\.0\.0\.0|\[?::\]?):/.test(advertise)) {
    throw new BicycleError('INVALID_ARGUMENT', `invalid configuration: advertise: ${advertise} is not an address other nodes can reach; set --advertise host:port`);
  }
  return { ...config, advertise };
}

/** Whether a host:port listener is on loopback only (127.0.0.0/8, ::1, localhost): there the API stays plain HTTP. */
export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
