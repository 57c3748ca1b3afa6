import { z } from 'zod';
import { BicycleError } from '../daemon/errors';
import type { ServiceChanges, ServiceSpec } from '../database/commands';
import { lifecycleFields } from './validation-lifecycle';
import { placementFields } from './validation-placement';
import { createSecretRequest, secretRefs, unlockRequest, updateSecretRequest } from './validation-secrets';
import { debugLinkChange } from './validation-debug-links';
import type { LinkChange } from '../daemon/voting/debug-links';

/** What the REST API accepts, in one place. Unknown fields are refused, each error names its field. */
export const MAX_REPLICAS = 10_000;

const name = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'must be 1-63 letters, digits, "-" or "_", starting with a letter or digit (no spaces)');

const image = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(512, 'must be at most 512 characters')
  .regex(/^[^\s]+$/, 'must not contain spaces');

const replicas = z
  .number({ error: `must be a whole number from 0 to ${MAX_REPLICAS}` })
  .int(`must be a whole number from 0 to ${MAX_REPLICAS}`)
  .min(0, `must be a whole number from 0 to ${MAX_REPLICAS}`)
  .max(MAX_REPLICAS, `must be a whole number from 0 to ${MAX_REPLICAS}`);

const command = z
  .array(z.string({ error: 'must be a string' }).max(65_536, 'each argument must be at most 65536 characters'), { error: 'must be an array of strings, e.g. ["sleep", "3600"]' })
  .min(1, 'must not be empty (leave it out to use the image\'s command)')
  .max(1000, 'must have at most 1000 arguments')
  .nullable();

/** A map of string values whose keys pass `checkKey` (which returns a complaint, or null). */
function stringMap(what: string, checkKey: (key: string) => string | null) {
  return z
    .record(z.string(), z.string({ error: `${what} values must be strings` }), { error: `must be an object of string values, e.g. {"KEY": "value"}` })
    .superRefine((map, ctx) => {
      for (const key of Object.keys(map)) {
        const complaint = checkKey(key);
        if (complaint) ctx.addIssue({ code: 'custom', message: complaint, path: [key] });
      }
    });
}

const env = stringMap('environment', (key) =>
  /^[A-Za-z_][A-Za-z0-9_.]*$/.test(key) ? null : 'environment variable names are letters, digits, "_" or "." and do not start with a digit',
);

const labels = stringMap('label', (key) => {
  if (key.length === 0 || key.length > 255) return 'label keys are 1-255 characters';
  return key.startsWith('io.bicycle.') ? 'label keys starting with io.bicycle. are reserved for Bicycle' : null;
});

const PORT_RANGE = 'must be a whole number from 1 to 65535';
const portNumber = z.number({ error: PORT_RANGE }).int(PORT_RANGE).min(1, PORT_RANGE).max(65_535, PORT_RANGE);

/** One published port; protocol, mode and proxy may be left out (tcp, ingress, none). */
const port = z.strictObject(
  {
    published: portNumber,
    target: portNumber,
    protocol: z.literal('tcp', { error: 'must be "tcp" (udp is not supported)' }).default('tcp'),
    mode: z.enum(['ingress', 'host'], { error: 'must be "ingress" or "host"' }).default('ingress'),
    proxy: z.enum(['none', 'v1', 'v2'], { error: 'must be "none", "v1" or "v2"' }).default('none'),
  },
  { error: 'must be an object, e.g. {"published": 8080, "target": 80}' },
);

/** Published ports, each published port at most once (the service-wide check; the cluster-wide one is PORT_IN_USE). */
const ports = z
  .array(port, { error: 'must be an array of ports, e.g. [{"published": 8080, "target": 80}]' })
  .max(1000, 'must have at most 1000 ports')
  .superRefine((list, ctx) => {
    const first = new Map<number, number>();
    list.forEach((p, i) => {
      const earlier = first.get(p.published);
      if (earlier === undefined) first.set(p.published, i);
      else ctx.addIssue({ code: 'custom', message: `port ${p.published} is already published by ports.${earlier}`, path: [i, 'published'] });
    });
  });

/** What a node cut off from the leader does with the replicas (docs/voting.md); null on an update returns to the default rule. */
const onDisconnect = z.enum(['stop', 'keep'], { error: 'must be "stop" or "keep"' });

const createService = z
  .strictObject({
    name,
    image,
    replicas: replicas.optional(),
    command: command.optional(),
    env: env.optional(),
    labels: labels.optional(),
    ports: ports.optional(),
    onDisconnect: onDisconnect.optional(),
    secrets: secretRefs.optional(),
    ...lifecycleFields(false),
    ...placementFields(false),
  })
  .superRefine((v, ctx) => {
    if (v.mode === 'global' && v.replicas !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'a global service runs one replica on every eligible node: leave replicas out', path: ['replicas'] });
    }
  });

/** Every field PATCH /services/:name accepts, for the message that asks for one. */
const UPDATE_FIELDS = [
  'image', 'replicas', 'command', 'env', 'labels', 'ports', 'onDisconnect', 'healthcheck', 'restart', 'update', 'rollback', 'stopGracePeriod',
  'placement', 'resources', 'mode', 'prepull', 'secrets',
] as const;

const updateService = z
  .strictObject({
    image: image.optional(),
    replicas: replicas.optional(),
    command: command.optional(),
    env: env.optional(),
    labels: labels.optional(),
    ports: ports.optional(),
    onDisconnect: onDisconnect.nullable().optional(),
    secrets: secretRefs.optional(),
    ...lifecycleFields(true),
    ...placementFields(true),
  })
  .refine((v) => Object.keys(v).length > 0, `give at least one of ${UPDATE_FIELDS.join(', ')}`);

/** Node labels: the same keys as a service's (io.bicycle.* reserved), at most 100 of them. */
const nodeLabels = labels.refine((map) => Object.keys(map).length <= 100, 'must have at most 100 labels');

const LABEL_KEY = 'must be a label key (1-255 characters)';

const updateNode = z
  .strictObject({
    availability: z.enum(['active', 'drain', 'pause'], { error: 'must be one of active, drain, pause' }).optional(),
    /** The labels, replaced whole. */
    labels: nodeLabels.optional(),
    /** Labels added or changed, merged into the current ones. */
    labelAdd: nodeLabels.optional(),
    /** Label keys removed (a key the node does not have is no error). */
    labelRm: z
      .array(z.string({ error: LABEL_KEY }).min(1, LABEL_KEY).max(255, LABEL_KEY), { error: 'must be an array of label keys, e.g. ["zone"]' })
      .max(100, 'must have at most 100 keys')
      .optional(),
  })
  .superRefine((v, ctx) => {
    if (v.labels !== undefined && (v.labelAdd !== undefined || v.labelRm !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'replaces the labels whole: give it alone, or labelAdd and labelRm to change some', path: ['labels'] });
    }
  })
  .refine((v) => Object.keys(v).length > 0, 'give at least one of availability, labels, labelAdd, labelRm');

const SPEC_VERSION = 'must be a whole number 1 or more (a version service history lists)';
const rollbackRequest = z.strictObject({
  version: z.number({ error: SPEC_VERSION }).int(SPEC_VERSION).min(1, SPEC_VERSION).max(Number.MAX_SAFE_INTEGER, SPEC_VERSION).optional(),
});

/** The request bodies' schemas, as the routes validate them (the fuzz test generates requests from them). */
export const REQUEST_SCHEMAS = { createService, updateService, updateNode, rollbackRequest, createSecret: createSecretRequest, updateSecret: updateSecretRequest, unlock: unlockRequest, debugLinkChange } as const;

/** Turns a zod failure into INVALID_ARGUMENT naming the field: `replicas: must be a whole number …`. */
function refuse(error: z.ZodError, what: string, body: unknown): never {
  const issue = error.issues[0]!;
  const field = issue.path.map(String).join('.');
  const missing = issue.path.length > 0 && valueAt(body, issue.path) === undefined;
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    throw new BicycleError('INVALID_ARGUMENT', `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')} in ${field || what}`);
  }
  // A union (a duration, a health check's test) that got nothing says so the same way.
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && missing) {
    throw new BicycleError('INVALID_ARGUMENT', `${field}: is required`);
  }
  throw new BicycleError('INVALID_ARGUMENT', field ? `${field}: ${issue.message}` : `${what}: ${issue.message}`);
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let value = body;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** The path of the first own `__proto__` key in parsed JSON: such a key would be dropped, not stored, so it is refused. */
function protoKeyPath(value: unknown, path: string[] = []): string[] | null {
  if (typeof value !== 'object' || value === null) return null;
  for (const key of Object.keys(value)) {
    if (key === '__proto__') return [...path, key];
    const found = protoKeyPath((value as Record<string, unknown>)[key], [...path, key]);
    if (found) return found;
  }
  return null;
}

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BicycleError('INVALID_ARGUMENT', `${what} must be a JSON object`);
  }
  const proto = protoKeyPath(body);
  if (proto) throw new BicycleError('INVALID_ARGUMENT', `${proto.join('.')}: "__proto__" is not accepted as a key`);
  const result = schema.safeParse(body);
  if (!result.success) refuse(result.error, what, body);
  return result.data;
}

export interface NewService {
  name: string;
  spec: ServiceSpec;
  replicas: number;
}

export function parseNewService(body: unknown): NewService {
  const v = parse(createService, body, 'the service');
  const spec: ServiceSpec = { image: v.image, command: v.command ?? null, env: v.env ?? {}, labels: v.labels ?? {}, ports: v.ports ?? [] };
  if (v.onDisconnect) spec.onDisconnect = v.onDisconnect;
  // Lifecycle fields only when given: absent ones take the defaults (database/lifecycle.ts).
  if (v.healthcheck) spec.healthcheck = v.healthcheck;
  if (v.restart) spec.restart = v.restart;
  if (v.update) spec.update = v.update;
  if (v.rollback) spec.rollback = v.rollback;
  if (v.stopGracePeriod !== undefined) spec.stopGracePeriodMs = v.stopGracePeriod;
  if (v.placement && Object.keys(v.placement).length > 0) spec.placement = v.placement;
  if (v.resources && Object.keys(v.resources).length > 0) spec.resources = v.resources;
  if (v.mode) spec.mode = v.mode;
  if (v.prepull !== undefined) spec.prepull = v.prepull;
  if (v.secrets && v.secrets.length > 0) spec.secrets = v.secrets;
  // A global service's replicas are its eligible nodes' (the orchestrator's); the stored count is not used, and counts nothing against deployment.maxReplicas.
  return { name: v.name, replicas: v.mode === 'global' ? 0 : (v.replicas ?? 1), spec };
}

/** The changes as the service.update command takes them: `stopGracePeriod` becomes `stopGracePeriodMs`, null kept (back to the default). */
export function parseServiceChanges(body: unknown): ServiceChanges {
  const { stopGracePeriod, ...rest } = parse(updateService, body, 'the update');
  const changes: ServiceChanges = rest;
  if (stopGracePeriod !== undefined) changes.stopGracePeriodMs = stopGracePeriod;
  return changes;
}

/** The body of POST /services/:name/rollback: absent, `{}`, or `{ "version": N }`. */
export function parseRollback(body: unknown): { toVersion?: number } {
  if (body === undefined) return {};
  const v = parse(rollbackRequest, body, 'the rollback');
  return v.version === undefined ? {} : { toVersion: v.version };
}

/** The body of PATCH /nodes/:id: any of availability, labels (whole), labelAdd and labelRm (merged into the current labels). */
export interface NodeChanges {
  availability?: 'active' | 'drain' | 'pause';
  labels?: Record<string, string>;
  labelAdd?: Record<string, string>;
  labelRm?: string[];
}

export function parseNodeChanges(body: unknown): NodeChanges {
  return parse(updateNode, body, 'the node update');
}

/** The labels a node has after `changes` (undefined: they do not change): `labels` whole, else the current ones without `labelRm`, with `labelAdd`. */
export function nextNodeLabels(current: Readonly<Record<string, string>>, changes: NodeChanges): Record<string, string> | undefined {
  if (changes.labels !== undefined) return changes.labels;
  if (changes.labelAdd === undefined && changes.labelRm === undefined) return undefined;
  const next = { ...current };
  for (const key of changes.labelRm ?? []) delete next[key];
  return { ...next, ...changes.labelAdd };
}

/** The body of POST /secrets: the name and the value (base64, decoded here). */
export function parseNewSecret(body: unknown): { name: string; value: Buffer } {
  const v = parse(createSecretRequest, body, 'the secret');
  return { name: v.name, value: Buffer.from(v.data, 'base64') };
}

/** The body of PATCH /secrets/:name: the new value (base64). */
export function parseSecretValue(body: unknown): Buffer {
  return Buffer.from(parse(updateSecretRequest, body, 'the secret').data, 'base64');
}

/** The body of POST /debug/links; `up` takes no direction (it brings the link up both ways). */
export function parseLinkChange(body: unknown): LinkChange {
  const v = parse(debugLinkChange, body, 'the link change');
  if (v.state === 'up' && v.direction !== undefined) throw new BicycleError('INVALID_ARGUMENT', 'direction: is for a cut only; "up" brings the link up both ways');
  return v;
}

export function parseServiceName(value: string): string {
  const result = name.safeParse(value);
  if (!result.success) throw new BicycleError('INVALID_ARGUMENT', `service name: ${result.error.issues[0]!.message}`);
  return result.data;
}

/** A query flag: true, false, 1, 0, or absent (the default). */
export function parseFlag(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new BicycleError('INVALID_ARGUMENT', `${field}: must be true or false`);
}

/** A whole-number query parameter within [min, max], or the default. */
export function parseInteger(value: unknown, field: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  // Decimal digits only: Number() would also take 0x10, 1e3 or " 12 ".
  const n = typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new BicycleError('INVALID_ARGUMENT', `${field}: must be a whole number from ${min} to ${max}`);
  }
  return n;
}

/** The body of POST /node/unlock: the autolock passphrase. */
export function parseUnlock(body: unknown): string {
  return parse(unlockRequest, body, 'the unlock request').passphrase;
}
