import { z } from 'zod';
import { ERROR_CATALOGUE, type ErrorCode } from '../daemon/errors';
import { NODE_AVAILABILITIES, NODE_LINKS, NODE_ROLES, NODE_STATUSES } from '../database/node-state';
import { STRATEGIES } from '../database/placement';
import { SERVICE_STATES } from '../database/service-state';
import { TASK_HEALTH, TASK_STATES } from '../database/task-state';

/**
 * The answers' shapes, as modules/present*.ts builds them, for GET
 * /openapi.json. They describe what the API sends and validate nothing at
 * run time; test/integration/openapi.test.ts checks real answers against
 * them (every object is closed in the document, so a field added to an
 * answer and not here fails that test).
 */

const int = z.number().int();
const count = int.min(0);
const isoTime = z.string().describe('an ISO 8601 time, e.g. 2026-01-02T03:04:05.000Z');
const duration = z.string().describe('a Go-style duration, e.g. "5s", "1m30s"');
const stringMap = z.record(z.string(), z.string());

const port = z.object({
  published: int,
  target: int,
  protocol: z.literal('tcp'),
  mode: z.enum(['ingress', 'host']),
  proxy: z.enum(['none', 'v1', 'v2']),
});

const healthcheck = z
  .object({ test: z.array(z.string()), interval: duration, timeout: duration, retries: count, startPeriod: duration })
  .nullable()
  .describe("the check given; null: the image's own, if it has one");

const restart = z.object({
  condition: z.enum(['any', 'on-failure', 'none']),
  delay: duration.nullable().describe('null: the back-off (at once, then 1 s, 2 s, 4 s … 10 s)'),
  maxAttempts: count,
  window: duration,
});

const rollout = z.object({
  parallelism: count,
  delay: duration,
  order: z.enum(['stop-first', 'start-first']),
  monitor: duration,
  maxFailureRatio: z.number(),
  failureAction: z.enum(['pause', 'continue', 'rollback']),
  healthyDeadline: duration,
  progressDeadline: duration,
});

const placement = z.object({
  constraints: z.array(z.string()).optional(),
  preferences: z.array(z.object({ spread: z.string() })).optional(),
  maxReplicasPerNode: count.optional(),
  maxPerValue: count.optional(),
  strategy: z.enum(STRATEGIES as [string, ...string[]]).optional(),
});

const limits = z.object({ cpus: z.number().optional(), memory: count.optional(), pids: count.optional() });
const resources = z.object({
  reservations: z.object({ cpus: z.number().optional(), memory: count.optional() }).optional(),
  limits: limits.optional(),
});

const updateStatus = z
  .object({
    kind: z.enum(['update', 'rollback']),
    fromVersion: int,
    toVersion: int,
    startedAt: isoTime,
    completedAt: isoTime.nullable(),
    message: z.string().nullable(),
  })
  .nullable();

const task = z.object({
  id: z.string(),
  name: z.string().describe('service.slot'),
  slot: int,
  node: z.string().nullable(),
  nodeId: z.string().nullable(),
  state: z.enum(TASK_STATES),
  desiredState: z.enum(['RUNNING', 'SHUTDOWN']),
  containerId: z.string().nullable(),
  error: z.string().nullable(),
  exitCode: int.nullable(),
  health: z.enum(TASK_HEALTH).nullable(),
  version: int,
  startedAt: isoTime.nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
});

/** The secrets a service mounts (database/secrets.ts): names, paths, modes and value versions, never a value. */
const secretRefs = z.array(z.object({
  source: z.string().describe('the secret'),
  target: z.string().describe("the file's absolute path in the container"),
  mode: z.string().describe('octal permission bits, e.g. "0444"'),
  version: int.describe("the version of the secret's value the containers get"),
}));

/** modules/secrets.ts presentSecret: never the value. */
const secret = z.object({
  name: z.string(),
  id: z.string(),
  version: int.describe("the current value's version"),
  createdAt: isoTime,
  updatedAt: isoTime,
  services: z.array(z.string()).describe('the services that mount it'),
});

/** present.ts serviceFields: what every shape of a service shares. */
const serviceFields = {
  name: z.string(),
  id: z.string(),
  image: z.string(),
  command: z.array(z.string()).nullable(),
  env: stringMap,
  labels: stringMap,
  ports: z.array(port),
  onDisconnect: z.enum(['stop', 'keep']),
  healthcheck,
  restart,
  update: rollout,
  rollback: rollout,
  stopGracePeriod: duration,
  mode: z.enum(['replicated', 'global']),
  placement,
  resources,
  prepull: z.boolean(),
  secrets: secretRefs,
  replicas: count,
  running: count,
  healthy: count,
};

/** present.ts serviceStatus. */
const serviceStatus = {
  state: z.enum(SERVICE_STATES),
  version: int,
  specVersion: int,
  updateStatus,
  rebalancing: z.boolean(),
  createdAt: isoTime,
  updatedAt: isoTime,
};

const service = z.object({ ...serviceFields, ...serviceStatus, tasks: z.array(task), tasksOmitted: count });

const serviceSummary = z.object({
  ...serviceFields,
  ...serviceStatus,
  taskCounts: z.object({ total: count, byState: z.partialRecord(z.enum(TASK_STATES), count) }),
  error: z.string().nullable().describe('why its latest failed task failed'),
});

/** DELETE /services/:name: the service as it was, DELETED once it is gone; a retried delete of a service already gone answers the short form. */
const deletedService = z.union([
  service.extend({ state: z.enum([...SERVICE_STATES, 'DELETED']) }),
  z.object({ name: z.string(), state: z.literal('DELETED'), running: z.literal(0), tasks: z.array(task).max(0) }),
]);

const capacity = z.object({ cpus: z.number(), memoryBytes: z.number() });

const node = z.object({
  id: z.string(),
  name: z.string(),
  address: z.string(),
  role: z.enum(NODE_ROLES),
  status: z.enum(NODE_STATUSES),
  availability: z.enum(NODE_AVAILABILITIES),
  link: z.enum(NODE_LINKS),
  leader: z.boolean(),
  uptimeSeconds: count.nullable(),
  lastSeenAt: isoTime,
  tasks: count,
  labels: stringMap,
  facts: z.object({ cpus: z.number(), memoryBytes: z.number(), os: z.string(), arch: z.string(), engineVersion: z.string() }).nullable(),
  reserved: capacity,
  free: capacity.nullable(),
});

const prepullStatus = z.object({
  service: z.string(),
  image: z.string(),
  state: z.enum(['pulling', 'done', 'failed']),
  error: z.string().nullable(),
});

const state = z.object({
  cluster: z.object({
    id: z.string().nullable(),
    leader: z.string().nullable(),
    leaderId: z.string().nullable(),
    term: count,
    warnings: z.array(z.string()),
  }),
  nodes: z.array(node.extend({ prepull: z.array(prepullStatus).nullable().describe("this node's pre-pulls; null for other nodes") })),
  services: z.array(
    z.object({
      name: z.string(),
      image: z.string(),
      ports: z.array(port),
      mode: z.enum(['replicated', 'global']),
      replicas: count,
      running: count,
      healthy: count,
      state: z.enum(SERVICE_STATES),
      version: int,
      error: z.string().nullable(),
    }),
  ),
  containers: z.array(
    z.object({
      id: z.string().nullable(),
      task: z.string(),
      service: z.string(),
      slot: int,
      node: z.string().nullable(),
      state: z.enum(TASK_STATES),
      desiredState: z.enum(['RUNNING', 'SHUTDOWN']),
      health: z.enum(TASK_HEALTH).nullable(),
      uptimeSeconds: count.nullable(),
      cpuPercent: z.number().nullable(),
      memoryBytes: z.number().nullable(),
    }),
  ),
  containersTruncated: z.boolean(),
  containerCounts: z.object({ total: count, byService: z.record(z.string(), count), byNode: z.record(z.string(), count) }),
});

const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as [ErrorCode, ...ErrorCode[]];

/** daemon/errors.ts ErrorData: an error crossing a thread or a node (an unexpected one also names its cause). */
const errorData = z.looseObject({ code: z.enum(ERROR_CODES), message: z.string() });

/** daemon/messages.ts JoinGrant: what a node let in needs to take part. */
const joinGrant = z.object({
  clusterId: z.string(),
  clusterSecret: z.string().describe("the cluster's secret, for the node-to-node routes"),
  leaderId: z.string(),
  members: z.record(z.string(), z.string()).describe('member node id → advertised address'),
  secretsKey: z.string().optional().describe("the cluster's secrets key, base64 (docs/security.md, \"Secrets\")"),
});

/** database/apply-command.ts ApplyResult: how the state machine took a committed command. */
const applyResult = z.union([z.object({ ok: z.literal(true), changed: z.boolean() }), z.object({ ok: z.literal(false), error: errorData })]);

/** `{ error: { code, message } }`, `code` one of `codes` (every code of the catalogue when absent). */
export function errorSchema(codes: readonly ErrorCode[] = ERROR_CODES) {
  return z.object({ error: z.object({ code: z.enum(codes as [ErrorCode, ...ErrorCode[]]), message: z.string() }) });
}

/** The named answers, as components/schemas of the OpenAPI document. */
/** An API token as the API shows it (modules/auth-tokens.ts): never its secret nor its hash. */
const apiToken = z.object({
  accessor: z.string().describe('the public id (16 hex digits)'),
  name: z.string(),
  role: z.enum(['read', 'operator', 'admin']),
  createdAt: isoTime,
  expiresAt: isoTime.nullable().describe('null: never expires'),
  expired: z.boolean(),
  createdBy: z.string().describe('the creating token\'s name, `local`, `init` or `bootstrap`'),
});

const auditRecord = z.object({
  id: count,
  at: isoTime,
  actor: z.string().describe('the token\'s name, `local` (tokenless on loopback), `anonymous` or `join`'),
  accessor: z.string().nullable(),
  method: z.string(),
  path: z.string(),
  target: z.string().nullable().describe('the service, node, token or secret the request names'),
  status: int,
  source: z.string().nullable().describe('the client address this node saw'),
});

export const RESPONSE_SCHEMAS = {
  Error: errorSchema(),
  Task: task,
  Service: service,
  ServiceSummary: serviceSummary,
  ServiceList: z.object({ services: z.array(z.union([serviceSummary, service])).describe('summaries; with ?tasks=true, services with their tasks') }),
  DeletedService: deletedService,
  TaskPage: z.object({ tasks: z.array(task), next: z.string().nullable().describe('the cursor of the next page (?after=); null at the end') }),
  ServiceHistory: z.object({
    versions: z.array(
      z.object({
        version: int,
        image: z.string(),
        command: z.array(z.string()).nullable(),
        env: stringMap,
        labels: stringMap,
        healthcheck,
        limits,
        secrets: secretRefs,
        createdAt: isoTime,
        current: z.boolean(),
      }),
    ),
  }),
  RebalanceAll: z.object({ services: z.array(z.string()) }),
  Node: node,
  NodeList: z.object({ nodes: z.array(node) }),
  NodeRemoved: z.object({ removed: z.string() }),
  State: state,
  Health: z.object({
    status: z.literal('ok'),
    leader: z.string().nullable(),
    leaderId: z.string().nullable(),
    nodeId: z.string().nullable().describe('the id of the node that answers'),
    store: z.enum(['memory', 'persisted']).describe('where the node that answers keeps its state (`bicycled --store`): memory, a new node at every start'),
  }),
  ApiToken: apiToken,
  TokenList: z.object({ tokens: z.array(apiToken) }),
  CreatedToken: apiToken.extend({ token: z.string().describe('the token to send as `Authorization: Bearer …` (BAT1-…); shown in this answer only') }),
  TokenRemoved: z.object({ removed: z.string(), accessor: z.string() }),
  AuditLog: z.object({ records: z.array(auditRecord) }),
  AuthSelf: z.object({ actor: z.string().describe('the token\'s name, or `local` for a tokenless client on the loopback'), role: z.enum(['read', 'operator', 'admin']) }),
  JoinToken: z.object({ token: z.string(), join: z.string().describe('the flags a new node starts with') }),
  ClusterCa: z.object({ certificate: z.string().describe("the cluster CA's certificate, PEM"), fingerprint: z.string().describe('sha256:<hex> of its DER encoding, as join tokens carry it') }),
  VotingReply: z.object({
    reply: z.union([
      z.object({ ok: z.literal(true), result: applyResult.optional(), index: count.optional().describe('the log index the command was committed at'), grant: joinGrant.optional() }),
      z.object({ ok: z.literal(false), error: errorData }),
    ]),
  }),
  JoinGrant: z.object({ grant: joinGrant }),
  Secret: secret,
  SecretList: z.object({ secrets: z.array(secret) }),
  SecretRemoved: z.object({ name: z.string(), id: z.string(), removed: z.literal(true) }),
  SessionAnswer: z.object({
    index: count.describe('the applied log index the answer was read at; the next ask passes it as `after`'),
    leader: z.object({ id: z.string(), address: z.string() }).nullable().describe('where the worker sends its reports (VOTING_PATH), when a leader is known'),
    changed: z.boolean().describe('false: its tasks did not change after `after` within the wait, and are not listed'),
    tasks: z.array(z.object({
      id: z.string(), service: z.string(), slot: count, specVersion: count, state: z.enum(TASK_STATES), desiredState: z.enum(['RUNNING', 'SHUTDOWN']), containerId: z.string().nullable(),
    })).optional().describe("the worker's tasks, live and ended: all of them when `full`, else those that changed after `after`"),
    full: z.boolean().optional().describe('`tasks` lists all of its tasks (else only the changed ones, to merge)'),
    gone: z.array(z.string()).optional().describe('ids of tasks that changed after `after` and are no longer on it (moved, removed)'),
    specs: z.record(z.string(), z.unknown()).optional().describe('the spec each task runs, by `service@specVersion` (null: no longer recorded)'),
  }),
  SnapshotReceipt: z.object({
    received: z.number().int().describe('the bytes of the snapshot this node holds'),
    installed: z.boolean().optional().describe('the last chunk came in: the snapshot was handed to Raft'),
  }),
  NodeLock: z.object({
    autolock: z.boolean().describe("this node's secrets key file is sealed by an autolock passphrase"),
    locked: z.boolean().describe('the key is not open in memory yet: secrets cannot be created or mounted here until `bicycle node unlock`'),
  }),
  DebugLinks: z.object({
    links: z.array(
      z.object({
        peerId: z.string().describe("the peer's node id"),
        name: z.string(),
        address: z.string().describe('where the peer listens, host:port'),
        direction: z.enum(['both', 'in', 'out']).describe('`out`: what this node sends the peer is dropped; `in`: what it receives from the peer; `both`'),
        since: z.string().describe('when the link was cut, ISO 8601'),
      }),
    ),
  }),
} as const;

export type ResponseName = keyof typeof RESPONSE_SCHEMAS;
