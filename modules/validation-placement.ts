import { z } from 'zod';
import { isSpreadDescriptor, parseConstraint, STRATEGIES, type PlacementSpec, type ResourceSpec } from '../database/placement';

/**
 * What POST and PATCH /services accept of where a service runs and what it
 * may use (database/placement.ts): `placement`, `resources`, `mode` and
 * `prepull`, with Swarm's syntax. Memory is bytes, as a number or as
 * Docker's text ("512M", "1G", "256MiB"), and leaves here as `memoryBytes`.
 */

/** A petabyte: far beyond any node, and still a safe integer of bytes. */
export const MAX_MEMORY_BYTES = 2 ** 50;
/** The engine refuses a memory limit below 6 MiB; saying so here names the field. */
export const MIN_MEMORY_LIMIT_BYTES = 6 * 1024 * 1024;
export const MAX_CPUS = 1024;
/** Linux's PID_MAX_LIMIT: no pids limit above it means anything. */
export const MAX_PIDS = 4_194_304;

const UNIT_BYTES: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const MEMORY_TEXT = /^(\d+(?:\.\d+)?) ?([kmg]?)(?:i?b)?$/i;

/**
 * Docker's memory sizes (go-units RAMInBytes): a number of bytes with an
 * optional unit b, k, m or g (1k = 1024), each optionally followed by "B"
 * or "iB": "512M", "1g", "256MiB", "1.5GB", "1048576". Whole bytes (a
 * fraction rounds down); null when `text` is not one.
 */
export function parseMemorySize(text: string): number | null {
  const match = MEMORY_TEXT.exec(text.trim());
  if (!match) return null;
  const bytes = Math.floor(Number(match[1]) * UNIT_BYTES[match[2]!.toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

const MEMORY = 'must be bytes, or a size such as "512M", "1G" or "256MiB" (units b, k, m, g; 1k = 1024)';

function memory(minBytes: number, why: string) {
  const tooSmall = `must be at least ${minBytes} bytes${why}`;
  const tooLarge = `must be at most ${MAX_MEMORY_BYTES} bytes (1 PiB)`;
  return z
    .union([z.string({ error: MEMORY }).max(32, MEMORY), z.number({ error: MEMORY }).int(MEMORY)], { error: MEMORY })
    // The fuzz test draws valid sizes from these: a pattern would not bound them.
    .meta({ examples: ['512M', '1G', '256MiB', '64m', 134_217_728] })
    .transform((value, ctx) => {
      const bytes = typeof value === 'number' ? value : parseMemorySize(value);
      if (bytes === null) ctx.addIssue({ code: 'custom', message: MEMORY });
      else if (bytes < minBytes) ctx.addIssue({ code: 'custom', message: tooSmall });
      else if (bytes > MAX_MEMORY_BYTES) ctx.addIssue({ code: 'custom', message: tooLarge });
      else return bytes;
      return z.NEVER;
    });
}

const CPUS = `must be a number of CPUs greater than 0 and at most ${MAX_CPUS}, e.g. 0.5`;
const cpus = z.number({ error: CPUS }).gt(0, CPUS).max(MAX_CPUS, CPUS);

const PIDS = `must be a whole number from 1 to ${MAX_PIDS}`;
const pids = z.number({ error: PIDS }).int(PIDS).min(1, PIDS).max(MAX_PIDS, PIDS);

const COUNT = 'must be a whole number 0 or more (0: no limit)';
const count = z.number({ error: COUNT }).int(COUNT).min(0, COUNT).max(1_000_000, COUNT);

const constraint = z
  .string({ error: 'must be a string such as "node.labels.zone==a"' })
  .max(1024, 'must be at most 1024 characters')
  .meta({ examples: ['node.labels.zone==a', 'node.role!=manager', 'node.platform.os==linux', 'node.labels.disk!=hdd'] })
  .superRefine((text, ctx) => {
    const parsed = parseConstraint(text);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  });

const SPREAD = 'must be {"spread": DESCRIPTOR} with DESCRIPTOR node.labels.<name>, node.role, node.name, node.id, node.hostname, node.platform.os or node.platform.arch';
const preference = z.strictObject(
  {
    spread: z
      .string({ error: SPREAD })
      .max(1024, 'must be at most 1024 characters')
      .meta({ examples: ['node.labels.zone', 'node.labels.rack', 'node.role'] })
      .refine(isSpreadDescriptor, SPREAD),
  },
  { error: SPREAD },
);

const STRATEGY = `must be ${STRATEGIES.slice(0, -1).map((s) => `"${s}"`).join(', ')} or "${STRATEGIES[STRATEGIES.length - 1]}"`;

const placement = z
  .strictObject(
    {
      constraints: z.array(constraint, { error: 'must be an array of constraints, e.g. ["node.labels.zone==a"]' }).max(100, 'must have at most 100 constraints').optional(),
      preferences: z.array(preference, { error: 'must be an array, e.g. [{"spread": "node.labels.zone"}]' }).max(10, 'must have at most 10 preferences').optional(),
      maxReplicasPerNode: count.optional(),
      maxPerValue: count.optional(),
      strategy: z.enum(STRATEGIES as [string, ...string[]], { error: STRATEGY }).optional(),
    },
    { error: 'must be an object, e.g. {"constraints": ["node.labels.zone==a"], "preferences": [{"spread": "node.labels.zone"}]}' },
  )
  .superRefine((v, ctx) => {
    if (v.maxPerValue && !v.preferences?.length) {
      ctx.addIssue({ code: 'custom', message: 'counts replicas per value of the first spread preference: give preferences too', path: ['maxPerValue'] });
    }
  })
  .transform((v): PlacementSpec => {
    const out: PlacementSpec = {};
    if (v.constraints?.length) out.constraints = v.constraints.map((c) => c.trim());
    if (v.preferences?.length) out.preferences = v.preferences;
    if (v.maxReplicasPerNode) out.maxReplicasPerNode = v.maxReplicasPerNode;
    if (v.maxPerValue) out.maxPerValue = v.maxPerValue;
    if (v.strategy) out.strategy = v.strategy as PlacementSpec['strategy'];
    return out;
  });

const WHY_LIMIT = ' (the engine refuses a smaller memory limit)';

const resources = z
  .strictObject(
    {
      reservations: z
        .strictObject({ cpus: cpus.optional(), memory: memory(1, '').optional() }, { error: 'must be an object, e.g. {"cpus": 0.5, "memory": "256M"}' })
        .optional(),
      limits: z
        .strictObject(
          { cpus: cpus.optional(), memory: memory(MIN_MEMORY_LIMIT_BYTES, WHY_LIMIT).optional(), pids: pids.optional() },
          { error: 'must be an object, e.g. {"cpus": 1, "memory": "512M", "pids": 100}' },
        )
        .optional(),
    },
    { error: 'must be an object, e.g. {"reservations": {"cpus": 0.5, "memory": "256M"}, "limits": {"memory": "512M"}}' },
  )
  .superRefine((v, ctx) => {
    const reserved = v.reservations?.memory;
    const limit = v.limits?.memory;
    if (reserved !== undefined && limit !== undefined && reserved > limit) {
      ctx.addIssue({ code: 'custom', message: `reserves ${reserved} bytes, more than limits.memory (${limit}): a replica could never use what it reserves`, path: ['reservations', 'memory'] });
    }
    const reservedCpus = v.reservations?.cpus;
    const limitCpus = v.limits?.cpus;
    if (reservedCpus !== undefined && limitCpus !== undefined && reservedCpus > limitCpus) {
      ctx.addIssue({ code: 'custom', message: `reserves ${reservedCpus} CPUs, more than limits.cpus (${limitCpus})`, path: ['reservations', 'cpus'] });
    }
  })
  .transform((v): ResourceSpec => {
    const out: ResourceSpec = {};
    const reservations = defined({ cpus: v.reservations?.cpus, memoryBytes: v.reservations?.memory });
    const limits = defined({ cpus: v.limits?.cpus, memoryBytes: v.limits?.memory, pids: v.limits?.pids });
    if (Object.keys(reservations).length > 0) out.reservations = reservations;
    if (Object.keys(limits).length > 0) out.limits = limits;
    return out;
  });

/** The fields whose value is not undefined. */
function defined<T extends Record<string, number | undefined>>(value: T): { [K in keyof T]?: number } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: number };
}

export const mode = z.enum(['replicated', 'global'], { error: 'must be "replicated" or "global"' });

const prepull = z.boolean({ error: 'must be true or false' });

/**
 * The placement fields of a create (`nullable` false) or an update (true:
 * null clears placement and resources, and returns prepull to the
 * cluster's `deployment.prepull`). `mode` is the create's alone: on an
 * update the data layer refuses a different one, naming why.
 */
export function placementFields<N extends boolean>(nullable: N) {
  const maybe = <T extends z.ZodType>(schema: T) => (nullable ? schema.nullable().optional() : schema.optional()) as N extends true
    ? z.ZodOptional<z.ZodNullable<T>>
    : z.ZodOptional<T>;
  return {
    placement: maybe(placement),
    resources: maybe(resources),
    mode: mode.optional(),
    prepull: maybe(prepull),
  };
}
