import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Router from '@koa/router';
import { z } from 'zod';
import { ERROR_CATALOGUE, type ErrorCode } from '../daemon/errors';
import { CONTAINER_LOGS_PATH, JOIN_PATH, RAFT_PATH, SESSION_PATH, SNAPSHOT_PREFIX, VOTING_PATH } from '../daemon/cluster-protocol';
import { joinRequestSchema } from './cluster';
import { sessionRequestSchema } from './sessions';
import { IDEMPOTENCY_HEADER } from './idempotency';
import { routeAccess } from './auth-policy';
import { RESPONSE_SCHEMAS, type ResponseName } from './response-schemas';
import { REQUEST_SCHEMAS } from './validation';

/**
 * GET /openapi.json: the REST API as an OpenAPI 3.1 document. Request bodies
 * are the zod schemas that validate them (modules/validation*.ts), answers
 * those of modules/response-schemas.ts, errors the catalogue's codes
 * (daemon/errors.ts) grouped by status; all turned into JSON Schema by
 * zod's toJSONSchema, so the document says what the code does.
 * test/unit/openapi.test.ts checks that every route the routers serve is
 * here, and only those.
 */

type Method = 'get' | 'post' | 'patch' | 'delete';
/** Every request body a zod schema validates: the API's (modules/validation*.ts) and the join's (modules/cluster.ts). */
const BODY_SCHEMAS = { ...REQUEST_SCHEMAS, joinRequest: joinRequestSchema, sessionRequest: sessionRequestSchema };
type RequestName = keyof typeof BODY_SCHEMAS;
type QueryName = keyof typeof QUERY;

interface Answer {
  description: string;
  /** A JSON answer's schema; absent with `text` (text/plain) or for an answer without a body. */
  schema?: ResponseName;
  text?: true;
}

/** One route as the routers serve it: the path in koa's syntax (`/services/:name`). */
export interface RouteDoc {
  method: Method;
  path: string;
  summary: string;
  query?: QueryName[];
  body?: { schema: RequestName; required: boolean };
  /** A JSON body validated by hand, not by a zod schema: what is said of it, and the little the route checks. */
  looseBody?: { description: string; schema: Record<string, unknown> };
  /** A body of raw bytes (application/octet-stream), described. */
  bytesBody?: string;
  answers: Record<number, Answer>;
  /** The error codes this route answers with, beyond those every route or every write may give (see errorCodes). */
  errors: ErrorCode[];
  /** Node-to-node: needs the cluster secret (unless `tokenInBody`), takes no Idempotency-Key. */
  internal?: true;
  /** A node-to-node route that a node not yet in the cluster calls: its body carries the join token, it needs no secret. */
  tokenInBody?: true;
}

const QUERY = {
  consistent: { schema: { type: 'boolean', default: false }, description: "wait until this node has applied every write committed before the request (a read index)" },
  wait: { schema: { type: 'boolean', default: false }, description: 'answer once the service has converged (or the wait times out)' },
  timeout: { schema: { type: 'integer', minimum: 1, maximum: 3600, default: 60 }, description: 'seconds ?wait=true waits at most' },
  tasks: { schema: { type: 'boolean', default: false }, description: 'each service with its tasks instead of their counts' },
  limit: { schema: { type: 'integer', minimum: 0 }, description: 'how many to list at most' },
  after: { schema: { type: 'string' }, description: 'the `next` cursor of an earlier page' },
  follow: { schema: { type: 'boolean', default: false }, description: 'keep the answer open and send every new line' },
  tail: { schema: { type: 'integer', minimum: 0, maximum: 100_000, default: 100 }, description: 'how many of the last lines to send first' },
  format: { schema: { type: 'string', enum: ['text', 'ndjson'], default: 'text' }, description: 'text lines prefixed by replica, or one JSON record per line (docs/logs.md)' },
  since: { schema: { type: 'integer', minimum: 0 }, description: 'send the events of entries after this log index first (absent: the Last-Event-ID header, else from now)' },
  type: { schema: { type: 'string', enum: ['service', 'task', 'node', 'cluster', 'secret'] }, description: 'only events of this type' },
  service: { schema: { type: 'string' }, description: "only the events of this service and its tasks" },
  node: { schema: { type: 'string' }, description: 'only the events naming this node id' },
  task: { schema: { type: 'string' }, description: 'only the events of this task id' },
  action: { schema: { type: 'string' }, description: 'only events with this action' },
  total: { schema: { type: 'integer', minimum: 1 }, description: "the snapshot message's size in bytes" },
  sha256: { schema: { type: 'string', pattern: '^[0-9a-f]{64}$' }, description: "the SHA-256 of the whole snapshot message, in hex" },
  offset: { schema: { type: 'integer', minimum: 0 }, description: 'where this chunk goes in the snapshot message' },
} as const;

const WRITE_QUERY: QueryName[] = ['wait', 'timeout'];

/** Every route of modules/services.ts, nodes.ts, state.ts, logs.ts, cluster.ts, metrics.ts and this one. */
export const ROUTES: readonly RouteDoc[] = [
  { method: 'get', path: '/services', summary: 'List the services', query: ['tasks', 'consistent'], answers: { 200: { description: 'every service', schema: 'ServiceList' } }, errors: ['INVALID_ARGUMENT'] },
  {
    method: 'post', path: '/services', summary: 'Create a service', query: WRITE_QUERY, body: { schema: 'createService', required: true },
    answers: { 201: { description: 'the service created (converged with ?wait=true)', schema: 'Service' } },
    errors: ['INVALID_ARGUMENT', 'SERVICE_EXISTS', 'PORT_IN_USE', 'REPLICA_LIMIT'],
  },
  { method: 'get', path: '/services/:name', summary: 'One service with its tasks', query: ['consistent'], answers: { 200: { description: 'the service', schema: 'Service' } }, errors: ['INVALID_ARGUMENT', 'SERVICE_NOT_FOUND'] },
  {
    method: 'patch', path: '/services/:name', summary: 'Update a service (image, replicas, env, policies …)', query: WRITE_QUERY, body: { schema: 'updateService', required: true },
    answers: { 200: { description: 'the service updated (converged with ?wait=true)', schema: 'Service' } },
    errors: ['INVALID_ARGUMENT', 'SERVICE_NOT_FOUND', 'SERVICE_DELETING', 'PORT_IN_USE', 'REPLICA_LIMIT', 'ILLEGAL_TRANSITION'],
  },
  {
    method: 'delete', path: '/services/:name', summary: 'Delete a service', query: WRITE_QUERY,
    answers: { 200: { description: 'deleted (with ?wait=true)', schema: 'DeletedService' }, 202: { description: 'deletion under way', schema: 'DeletedService' } },
    errors: ['INVALID_ARGUMENT', 'SERVICE_NOT_FOUND', 'SERVICE_DELETING', 'ILLEGAL_TRANSITION'],
  },
  {
    method: 'get', path: '/services/:name/tasks', summary: "A page of the service's tasks, history included", query: ['limit', 'after', 'consistent'],
    answers: { 200: { description: 'a page of tasks; follow `next` until it is null', schema: 'TaskPage' } }, errors: ['INVALID_ARGUMENT', 'SERVICE_NOT_FOUND'],
  },
  {
    method: 'post', path: '/services/:name/rollback', summary: 'Roll back to an earlier spec version', query: WRITE_QUERY, body: { schema: 'rollbackRequest', required: false },
    answers: { 200: { description: 'the service rolling back (settled with ?wait=true)', schema: 'Service' } },
    errors: ['INVALID_ARGUMENT', 'SERVICE_NOT_FOUND', 'SERVICE_DELETING', 'NO_PREVIOUS_VERSION', 'VERSION_NOT_FOUND', 'ILLEGAL_TRANSITION'],
  },
  {
    method: 'get', path: '/services/:name/history', summary: "The service's recorded spec versions, newest first", query: ['consistent'],
    answers: { 200: { description: 'the versions', schema: 'ServiceHistory' } }, errors: ['INVALID_ARGUMENT', 'SERVICE_NOT_FOUND'],
  },
  {
    method: 'post', path: '/services/:name/rebalance', summary: "Even out the service's replicas over the nodes",
    answers: { 202: { description: 'rebalance asked for', schema: 'Service' } }, errors: ['INVALID_ARGUMENT', 'SERVICE_NOT_FOUND', 'SERVICE_DELETING'],
  },
  { method: 'post', path: '/rebalance', summary: "Even out every service's replicas", answers: { 202: { description: 'the services to rebalance', schema: 'RebalanceAll' } }, errors: [] },
  {
    method: 'get', path: '/services/:name/logs', summary: "The service's container logs, following replacements with follow", query: ['follow', 'tail', 'format'],
    answers: { 200: { description: 'log lines, each prefixed service.slot, or NDJSON records', text: true } }, errors: ['INVALID_ARGUMENT', 'SERVICE_NOT_FOUND'],
  },
  { method: 'get', path: '/nodes', summary: 'List the member nodes', query: ['consistent'], answers: { 200: { description: 'every node', schema: 'NodeList' } }, errors: ['INVALID_ARGUMENT'] },
  { method: 'get', path: '/nodes/:id', summary: 'One node, by id or name', answers: { 200: { description: 'the node', schema: 'Node' } }, errors: ['NODE_NOT_FOUND'] },
  {
    method: 'patch', path: '/nodes/:id', summary: "Change a node's availability or labels", body: { schema: 'updateNode', required: true },
    answers: { 200: { description: 'the node changed', schema: 'Node' } }, errors: ['INVALID_ARGUMENT', 'NODE_NOT_FOUND', 'ILLEGAL_TRANSITION'],
  },
  {
    method: 'delete', path: '/nodes/:id', summary: 'Remove a node from the cluster',
    answers: { 200: { description: 'the node removed', schema: 'NodeRemoved' } }, errors: ['NODE_NOT_FOUND', 'ILLEGAL_TRANSITION', 'INVALID_ARGUMENT'],
  },
  { method: 'post', path: '/nodes/:id/promote', summary: 'Make a worker a voting manager', answers: { 200: { description: 'the node', schema: 'Node' } }, errors: ['NODE_NOT_FOUND', 'ILLEGAL_TRANSITION', 'INVALID_ARGUMENT'] },
  { method: 'post', path: '/nodes/:id/demote', summary: 'Make a manager a non-voting worker', answers: { 200: { description: 'the node', schema: 'Node' } }, errors: ['NODE_NOT_FOUND', 'ILLEGAL_TRANSITION', 'INVALID_ARGUMENT'] },
  { method: 'get', path: '/state', summary: 'The whole cluster: leader, nodes, services, containers', query: ['limit', 'consistent'], answers: { 200: { description: 'the cluster as this node knows it', schema: 'State' } }, errors: ['INVALID_ARGUMENT'] },
  { method: 'get', path: '/healthz', summary: 'Health check', answers: { 200: { description: 'this daemon answers; who it thinks leads', schema: 'Health' } }, errors: [] },
  {
    method: 'get', path: '/events', summary: 'Events of the committed log (NDJSON, or SSE with Accept: text/event-stream)', query: ['since', 'type', 'service', 'node', 'task', 'action'],
    answers: { 200: { description: 'one event per line, then live ones', text: true } }, errors: ['INVALID_ARGUMENT', 'EVENTS_COMPACTED'],
  },
  { method: 'get', path: '/logs', summary: 'The daemon log', query: ['follow', 'tail'], answers: { 200: { description: 'log lines', text: true } }, errors: ['INVALID_ARGUMENT'] },
  {
    method: 'get', path: '/cluster/join-token', summary: 'The join token (to a loopback client only)',
    answers: { 200: { description: 'the token, and the flags a new node joins with', schema: 'JoinToken' } }, errors: ['PERMISSION_DENIED', 'UNAVAILABLE'],
  },
  {
    method: 'post', path: '/cluster/join-token', summary: 'Rotate the join token: the old one admits nobody from then on',
    answers: { 200: { description: 'the new token, and the flags a new node joins with', schema: 'JoinToken' } }, errors: ['PERMISSION_DENIED', 'UNAVAILABLE', 'NO_LEADER'],
  },
  {
    method: 'get', path: JOIN_PATH, summary: "The cluster CA's certificate, which a joining node checks against its token (node-to-node)", internal: true,
    answers: { 200: { description: 'the CA certificate and its fingerprint', schema: 'ClusterCa' } }, errors: ['UNAVAILABLE'],
  },
  {
    method: 'post', path: RAFT_PATH, summary: 'Raft messages from a peer (node-to-node)', looseBody: { description: 'a JSON array of Raft messages', schema: { type: 'array', items: { type: 'object' } } }, internal: true,
    answers: { 204: { description: 'handed to the voting thread' } }, errors: ['UNAUTHENTICATED', 'INVALID_ARGUMENT'],
  },
  {
    method: 'post', path: VOTING_PATH, summary: 'A request forwarded to the voting thread (node-to-node)', looseBody: {
      description: 'a voting request of daemon/messages.ts: {"kind": "propose" | "read" | "join" | "membership" | "sign" | "caKey" | "seen", …}',
      schema: { type: 'object', required: ['kind'], properties: { kind: { enum: ['propose', 'read', 'join', 'membership', 'sign', 'caKey', 'seen'] } } },
    },
    internal: true,
    answers: { 200: { description: "the voting thread's reply", schema: 'VotingReply' } }, errors: ['UNAUTHENTICATED', 'INVALID_ARGUMENT'],
  },
  {
    method: 'post', path: SESSION_PATH, summary: "A session worker asks for its tasks, waiting up to waitMs for a change after `after`; each ask is its heartbeat (node-to-node)",
    body: { schema: 'sessionRequest', required: true }, internal: true,
    answers: { 200: { description: "the worker's tasks and the specs they run", schema: 'SessionAnswer' } }, errors: ['UNAUTHENTICATED', 'PERMISSION_DENIED', 'INVALID_ARGUMENT', 'NODE_NOT_FOUND'],
  },
  {
    method: 'get', path: CONTAINER_LOGS_PATH, summary: "The log of one of this node's containers (node-to-node)", query: ['follow', 'tail'], internal: true,
    answers: { 200: { description: 'log lines', text: true } }, errors: ['UNAUTHENTICATED', 'NOT_FOUND', 'INVALID_ARGUMENT'],
  },
  {
    method: 'get', path: `${SNAPSHOT_PREFIX}:id`, summary: 'How many bytes of a snapshot sent in chunks this node holds (node-to-node)', query: ['total', 'sha256'], internal: true,
    answers: { 200: { description: 'the bytes held', schema: 'SnapshotReceipt' } }, errors: ['UNAUTHENTICATED', 'INVALID_ARGUMENT'],
  },
  {
    method: 'post', path: `${SNAPSHOT_PREFIX}:id`, summary: 'A chunk of a snapshot, at its offset; the last one installs it (node-to-node)', query: ['total', 'sha256', 'offset'], internal: true,
    bytesBody: 'the bytes of the snapshot message (JSON) from `offset` on',
    answers: { 200: { description: 'the bytes held, and whether the snapshot was handed to Raft', schema: 'SnapshotReceipt' }, 409: { description: 'the offset is not the amount held, which the answer gives', schema: 'SnapshotReceipt' } },
    errors: ['UNAUTHENTICATED', 'PERMISSION_DENIED', 'INVALID_ARGUMENT'],
  },
  {
    method: 'post', path: JOIN_PATH, summary: 'Join the cluster with the join token (node-to-node)', body: { schema: 'joinRequest', required: true }, internal: true, tokenInBody: true,
    answers: { 200: { description: 'what the new node needs to take part', schema: 'JoinGrant' } }, errors: ['INVALID_ARGUMENT', 'PERMISSION_DENIED', 'NODE_EXISTS', 'NO_LEADER', 'UNAVAILABLE', 'TIMEOUT'],
  },
  { method: 'get', path: '/secrets', summary: 'List the secrets (never their values)', query: ['consistent'], answers: { 200: { description: 'every secret', schema: 'SecretList' } }, errors: ['INVALID_ARGUMENT'] },
  { method: 'get', path: '/secrets/:name', summary: 'One secret (never its value)', query: ['consistent'], answers: { 200: { description: 'the secret', schema: 'Secret' } }, errors: ['INVALID_ARGUMENT', 'SECRET_NOT_FOUND'] },
  {
    method: 'post', path: '/secrets', summary: 'Create a secret (its value in base64)', body: { schema: 'createSecret', required: true },
    answers: { 201: { description: 'the secret', schema: 'Secret' } }, errors: ['SECRET_EXISTS', 'SECRETS_KEY_UNAVAILABLE'],
  },
  {
    method: 'patch', path: '/secrets/:name', summary: 'Give a secret a new value; the services that mount it roll to it', body: { schema: 'updateSecret', required: true },
    answers: { 200: { description: 'the secret at its new version', schema: 'Secret' } }, errors: ['SECRET_NOT_FOUND', 'SECRETS_KEY_UNAVAILABLE'],
  },
  {
    method: 'delete', path: '/secrets/:name', summary: 'Remove a secret no service mounts',
    answers: { 200: { description: 'removed', schema: 'SecretRemoved' } }, errors: ['INVALID_ARGUMENT', 'SECRET_NOT_FOUND', 'SECRET_IN_USE'],
  },
  { method: 'get', path: '/node/lock', summary: "Whether this node's secrets key is locked by an autolock passphrase", answers: { 200: { description: 'the lock state', schema: 'NodeLock' } }, errors: [] },
  {
    method: 'post', path: '/node/unlock', summary: "Open this node's locked secrets key with its autolock passphrase", body: { schema: 'unlock', required: true },
    answers: { 200: { description: 'the lock state', schema: 'NodeLock' } }, errors: ['INVALID_ARGUMENT'],
  },
  { method: 'get', path: '/tokens', summary: 'List the API tokens (never their secrets)', answers: { 200: { description: 'every token', schema: 'TokenList' } }, errors: [] },
  {
    method: 'post', path: '/tokens', summary: 'Create an API token; its secret is in this answer only',
    looseBody: {
      description: 'the token\'s name (unique), its role, and optionally its lifetime in seconds',
      schema: {
        type: 'object', additionalProperties: false, required: ['name', 'role'],
        properties: { name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$' }, role: { type: 'string', enum: ['read', 'operator', 'admin'] }, ttlSeconds: { type: 'integer', minimum: 1 } },
      },
    },
    answers: { 201: { description: 'the token, with its secret', schema: 'CreatedToken' } }, errors: ['INVALID_ARGUMENT', 'TOKEN_EXISTS'],
  },
  {
    method: 'delete', path: '/tokens/:id', summary: 'Remove (revoke) an API token, by accessor id or name',
    answers: { 200: { description: 'removed', schema: 'TokenRemoved' } }, errors: ['TOKEN_NOT_FOUND'],
  },
  { method: 'get', path: '/auth/self', summary: "Who the caller's token names, and its role", answers: { 200: { description: 'the actor and its role (`local`, admin: a tokenless client on the loopback)', schema: 'AuthSelf' } }, errors: [] },
  {
    method: 'get', path: '/audit', summary: "This node's audit log: every write request it received, allowed or refused", query: ['since', 'limit'],
    answers: { 200: { description: 'the records, oldest first', schema: 'AuditLog' } }, errors: ['INVALID_ARGUMENT'],
  },
  {
    method: 'get', path: '/debug/links', summary: "This node's links cut on demand (bicycled --debug-links); all are up again after a restart",
    answers: { 200: { description: 'the cut links', schema: 'DebugLinks' } }, errors: ['DEBUG_LINKS_DISABLED'],
  },
  {
    method: 'post', path: '/debug/links', summary: "Cut this node's link to a peer (both ways, or one way with direction), or bring it up (bicycled --debug-links)", body: { schema: 'debugLinkChange', required: true },
    answers: { 200: { description: 'the cut links after the change', schema: 'DebugLinks' } }, errors: ['DEBUG_LINKS_DISABLED', 'INVALID_ARGUMENT', 'NODE_NOT_FOUND'],
  },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', answers: { 200: { description: 'the Prometheus text exposition format', text: true } }, errors: [] },
  { method: 'get', path: '/openapi.json', summary: 'This document', answers: { 200: { description: 'the OpenAPI 3.1 document of this API' } }, errors: [] },
];

/** The codes a route may answer with: its own, INTERNAL, the body's (with a body) and a write's (with a proposal). */
export function errorCodes(route: RouteDoc): ErrorCode[] {
  const codes = new Set<ErrorCode>([...route.errors, 'INTERNAL']);
  // Every route but the public and node-to-node ones needs a token (modules/auth-policy.ts).
  const access = routeAccess(route.method.toUpperCase(), route.path);
  if (access !== 'public' && access !== 'node') for (const code of ['UNAUTHENTICATED', 'PERMISSION_DENIED'] as const) codes.add(code);
  if (route.method !== 'get') for (const code of ['INVALID_JSON', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE'] as const) codes.add(code);
  if (route.method !== 'get' && !route.internal) {
    for (const code of ['IDEMPOTENCY_KEY_REUSED', 'NO_LEADER', 'PROPOSAL_DROPPED', 'UNAVAILABLE', 'TIMEOUT'] as const) codes.add(code);
  }
  if (route.query?.includes('consistent')) for (const code of ['NO_LEADER', 'UNAVAILABLE', 'TIMEOUT'] as const) codes.add(code);
  return [...codes];
}

/** `/services/:name` → `/services/{name}`. */
export function openApiPath(koaPath: string): string {
  return koaPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** A request schema's component name: `createService` → `CreateService`. */
export const requestComponent = (name: RequestName) => name[0]!.toUpperCase() + name.slice(1);

/** A registry's schemas as components: `$ref`s between them, without each one's `$schema` and `$id`. */
function components(schemas: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const { schemas: out } = z.toJSONSchema(registry, { io, unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` });
  for (const schema of Object.values(out)) {
    delete (schema as Record<string, unknown>).$schema;
    delete (schema as Record<string, unknown>).$id;
  }
  return out;
}

/** The JSON error answers of a route, one per status, `code` limited to that status's codes of the route. */
function errorAnswers(route: RouteDoc): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorCodes(route)) {
    const status = ERROR_CATALOGUE[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, unknown> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: codes.join(', '),
      content: {
        'application/json': {
          schema: {
            allOf: [ref('Error')],
            properties: { error: { properties: { code: { enum: codes } } } },
          },
        },
      },
    };
  }
  return out;
}

function operation(route: RouteDoc): Record<string, unknown> {
  const parameters: unknown[] = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  for (const name of route.query ?? []) parameters.push({ name, in: 'query', required: false, ...QUERY[name] });
  if (route.method !== 'get' && !route.internal) {
    parameters.push({
      name: IDEMPOTENCY_HEADER, in: 'header', required: false, schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,200}$' },
      description: 'the same key makes a retry the same request: it applies once',
    });
  }
  const responses: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(route.answers)) {
    const content = answer.schema
      ? { 'application/json': { schema: ref(answer.schema) } }
      : answer.text
        ? { 'text/plain': { schema: { type: 'string' } } }
        : route.path === '/openapi.json'
          ? { 'application/json': { schema: { type: 'object' } } }
          : undefined;
    responses[status] = { description: answer.description, ...(content ? { content } : {}) };
  }
  Object.assign(responses, errorAnswers(route));
  const op: Record<string, unknown> = { summary: route.summary, operationId: operationId(route), ...(parameters.length ? { parameters } : {}), responses };
  if (route.body) {
    op.requestBody = { required: route.body.required, content: { 'application/json': { schema: ref(requestComponent(route.body.schema)) } } };
  } else if (route.looseBody) {
    op.requestBody = { required: true, description: route.looseBody.description, content: { 'application/json': { schema: route.looseBody.schema } } };
  } else if (route.bytesBody) {
    op.requestBody = { required: true, description: route.bytesBody, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } };
  }
  if (route.internal && !route.tokenInBody) op.security = [{ clusterSecret: [] }];
  return op;
}

/** `post /services/:name/rollback` → `postServicesNameRollback`. */
function operationId(route: RouteDoc): string {
  const words = route.path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return route.method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/** The whole document. `version` is the daemon's. */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) (paths[openApiPath(route.path)] ??= {})[route.method] = operation(route);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Bicycle',
      version,
      description: 'The Bicycle REST API. Errors answer `{ "error": { "code", "message" } }` with the status of their code. Generated from the schemas that validate requests.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas: {
        ...components(Object.fromEntries(Object.entries(BODY_SCHEMAS).map(([name, schema]) => [requestComponent(name as RequestName), schema])), 'input'), ...components(RESPONSE_SCHEMAS, 'output'),
      },
      securitySchemes: { clusterSecret: { type: 'http', scheme: 'bearer', description: "the cluster's secret (node-to-node routes)" } },
    },
  };
}

/** Serves GET /openapi.json, built once. */
export function openapiRouter(version = readVersion()): Router {
  const router = new Router();
  let document: Record<string, unknown> | undefined;
  router.get('/openapi.json', (k) => {
    k.body = document ??= buildOpenApiDocument(version);
  });
  return router;
}

/** package.json's version (dist/modules/ is two levels below it). */
function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
