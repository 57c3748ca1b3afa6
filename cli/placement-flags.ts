import { InvalidArgumentError, type Command } from 'commander';
import { collectString, oneOf, parseCount } from './parse';
import type { Placement, Resources, Service } from './types';

// `docker service create/update`'s placement flags: --constraint,
// --placement-pref, --max-replicas-per-node, --reserve-*, --limit-*, and
// Bicycle's --placement-strategy, --mode and --prepull.

export interface PlacementOptions {
  constraint?: string[];
  constraintAdd?: string[];
  constraintRm?: string[];
  placementPref?: string[];
  placementPrefAdd?: string[];
  placementPrefRm?: string[];
  maxReplicasPerNode?: number;
  placementStrategy?: Placement['strategy'];
  reserveCpu?: number;
  reserveMemory?: string;
  limitCpu?: number;
  limitMemory?: string;
  limitPids?: number;
  mode?: 'replicated' | 'global';
  /** true with --prepull, false with --no-prepull, absent without either. */
  prepull?: boolean;
}

/** The body fields the flags give. */
export interface PlacementBody {
  placement?: Placement;
  resources?: Resources;
  mode?: 'replicated' | 'global';
  prepull?: boolean;
}

const UNIT_BYTES: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Docker's memory sizes ("512M", "1g", "256MiB", bytes): bytes, or null when `text` is not one. The daemon reads them the same way. */
export function memoryBytes(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?) ?([kmg]?)(?:i?b)?$/i.exec(text.trim());
  return match ? Math.floor(Number(match[1]) * UNIT_BYTES[match[2]!.toLowerCase()]!) : null;
}

/** `--reserve-memory 512M`: checked here, sent as given. */
export function parseMemory(text: string): string {
  if (memoryBytes(text) === null) throw new InvalidArgumentError(`expected a size such as 512M, 1G or 256MiB (units b, k, m, g), got "${text}"`);
  return text.trim();
}

/** `--limit-cpu 1.5`: a number of CPUs greater than 0. */
export function parseCpus(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number of CPUs greater than 0, e.g. 0.5, got "${text}"`);
  return n;
}

/** `--constraint node.labels.zone==a`: KEY==VALUE or KEY!=VALUE (the daemon checks the key). */
export function collectConstraint(text: string, previous: string[] = []): string[] {
  if (!/^[^=!]+(==|!=).+$/.test(text.trim())) throw new InvalidArgumentError(`expected KEY==VALUE or KEY!=VALUE, e.g. node.labels.zone==a, got "${text}"`);
  return [...previous, text.trim()];
}

/** `--placement-pref spread=node.labels.zone` → the descriptor. */
export function collectPlacementPref(text: string, previous: string[] = []): string[] {
  const match = /^spread=(.+)$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`expected spread=DESCRIPTOR, e.g. spread=node.labels.zone, got "${text}"`);
  return [...previous, match[1]!];
}

/** Adds the placement flags to `service add` (`add`: --constraint, --placement-pref, --mode) or `service update` (--constraint-add/-rm, --placement-pref-add/-rm). */
export function withPlacementOptions(cmd: Command, verb: 'add' | 'update'): Command {
  if (verb === 'add') {
    cmd
      .option('--constraint <expr>', 'only nodes where this holds: node.labels.K==V, node.role!=manager, node.platform.os==linux … (repeatable)', collectConstraint)
      .option('--placement-pref <pref>', 'spread replicas over the values of a node attribute: spread=node.labels.zone (repeatable: a hierarchy)', collectPlacementPref)
      .option('--mode <mode>', 'replicated (--replicas replicas) or global (one on every eligible node)', oneOf('replicated', 'global'));
  } else {
    cmd
      .option('--constraint-add <expr>', 'add a placement constraint (repeatable)', collectConstraint)
      .option('--constraint-rm <expr>', 'remove a placement constraint, as it was given (repeatable)', collectString)
      .option('--placement-pref-add <pref>', 'add a spread preference: spread=node.labels.zone (repeatable)', collectPlacementPref)
      .option('--placement-pref-rm <pref>', 'remove a spread preference: spread=node.labels.zone (repeatable)', collectPlacementPref);
  }
  return cmd
    .option('--max-replicas-per-node <n>', 'at most this many replicas on one node (0: no limit)', parseCount)
    .option('--placement-strategy <strategy>', 'how nodes that fit are chosen: spread, binpack, round-robin or epvm', oneOf('spread', 'binpack', 'round-robin', 'epvm'))
    .option('--reserve-cpu <cpus>', 'CPUs each replica reserves on its node', parseCpus)
    .option('--reserve-memory <size>', 'memory each replica reserves on its node (512M, 1G)', parseMemory)
    .option('--limit-cpu <cpus>', 'CPUs a replica may use at most', parseCpus)
    .option('--limit-memory <size>', 'memory a replica may use at most (512M, 1G)', parseMemory)
    .option('--limit-pids <n>', 'processes a replica may run at most', parseCount)
    .option('--prepull', 'pull the image ahead on every eligible node')
    .option('--no-prepull', 'do not pull the image ahead (the default unless deployment.prepull is on)');
}

const PLACEMENT_KEYS = [
  'constraint', 'constraintAdd', 'constraintRm', 'placementPref', 'placementPrefAdd', 'placementPrefRm', 'maxReplicasPerNode', 'placementStrategy',
] as const;
const RESOURCE_KEYS = ['reserveCpu', 'reserveMemory', 'limitCpu', 'limitMemory', 'limitPids'] as const;

/** True when any placement flag was given. */
export function hasPlacementFlags(options: PlacementOptions): boolean {
  return [...PLACEMENT_KEYS, ...RESOURCE_KEYS, 'mode', 'prepull'].some((key) => options[key as keyof PlacementOptions] !== undefined);
}

/** The placement after the flags, from `current` (update) or nothing (add); undefined when no placement flag was given. */
function placementFrom(options: PlacementOptions, current: Placement = {}): Placement | undefined {
  if (!PLACEMENT_KEYS.some((key) => options[key] !== undefined)) return undefined;
  const next: Placement = { ...current };
  const removed = new Set(options.constraintRm ?? []);
  const constraints = [...(current.constraints ?? []).filter((c) => !removed.has(c)), ...(options.constraint ?? []), ...(options.constraintAdd ?? [])];
  const prefRemoved = new Set(options.placementPrefRm ?? []);
  const spreads = [...(current.preferences ?? []).map((p) => p.spread).filter((s) => !prefRemoved.has(s)), ...(options.placementPref ?? []), ...(options.placementPrefAdd ?? [])];
  if (constraints.length > 0) next.constraints = [...new Set(constraints)];
  else delete next.constraints;
  if (spreads.length > 0) next.preferences = [...new Set(spreads)].map((spread) => ({ spread }));
  else delete next.preferences;
  // Per-value limits count over the first preference: without one they would be refused.
  if (!next.preferences) delete next.maxPerValue;
  if (options.maxReplicasPerNode !== undefined) next.maxReplicasPerNode = options.maxReplicasPerNode;
  if (options.placementStrategy !== undefined) next.strategy = options.placementStrategy;
  return next;
}

/** The resources after the flags, merged into `current`'s (update); undefined when no resource flag was given. */
function resourcesFrom(options: PlacementOptions, current: Resources = {}): Resources | undefined {
  if (!RESOURCE_KEYS.some((key) => options[key] !== undefined)) return undefined;
  const reservations = { ...current.reservations };
  const limits = { ...current.limits };
  if (options.reserveCpu !== undefined) reservations.cpus = options.reserveCpu;
  if (options.reserveMemory !== undefined) reservations.memory = options.reserveMemory;
  if (options.limitCpu !== undefined) limits.cpus = options.limitCpu;
  if (options.limitMemory !== undefined) limits.memory = options.limitMemory;
  if (options.limitPids !== undefined) limits.pids = options.limitPids;
  const next: Resources = {};
  if (Object.keys(reservations).length > 0) next.reservations = reservations;
  if (Object.keys(limits).length > 0) next.limits = limits;
  return next;
}

/**
 * The body fields the placement flags give. placement and resources are
 * sent whole (the daemon replaces them), computed from `current`'s on
 * update, and only when they change; mode and prepull as given.
 */
export function placementBody(options: PlacementOptions, current?: Pick<Service, 'placement' | 'resources'>): PlacementBody {
  const body: PlacementBody = {};
  const placement = placementFrom(options, current?.placement);
  if (placement && !(current && sameJson(placement, current.placement ?? {}))) body.placement = placement;
  const resources = resourcesFrom(options, current?.resources);
  if (resources && !(current && sameJson(resources, current.resources ?? {}))) body.resources = resources;
  if (options.mode !== undefined) body.mode = options.mode;
  if (options.prepull !== undefined) body.prepull = options.prepull;
  return body;
}

/** Same JSON up to key order, memory compared in bytes ("1G" is 1073741824). */
function sameJson(a: unknown, b: unknown): boolean {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.keys(value).sort().map((k) => {
        const v = (value as Record<string, unknown>)[k];
        return [k, k === 'memory' && typeof v === 'string' ? memoryBytes(v) : canonical(v)];
      }));
    }
    return value;
  };
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
