/**
 * Where a service's replicas may run and how they are spread
 * (docs/deployment.md, "Placement"): Swarm's syntax where it exists, so that
 * stacks port over.
 */

export type Strategy = 'spread' | 'binpack' | 'round-robin' | 'epvm';
export const STRATEGIES: readonly Strategy[] = ['spread', 'binpack', 'round-robin', 'epvm'];

export type ServiceMode = 'replicated' | 'global';

export interface PlacementSpec {
  /** `node.labels.zone==a`, `node.role!=manager`, `node.name==host-2`, `node.id==…`, `node.platform.os==linux`, `node.platform.arch==x86_64`; all must hold. */
  constraints?: string[];
  /** A hierarchy of spread preferences: replicas spread evenly over the values of the first descriptor, then within each over the second, … */
  preferences?: { spread: string }[];
  /** At most this many replicas of the service on one node (0 or absent: no limit). */
  maxReplicasPerNode?: number;
  /** At most this many replicas per value of the first spread preference (0 or absent: no limit). */
  maxPerValue?: number;
  /** The scoring among nodes that pass every filter; absent: the cluster's `deployment.strategy`. */
  strategy?: Strategy;
}

/** CPUs as a decimal number of cores (0.5), memory in bytes. */
export interface ResourceSpec {
  /** What the scheduler counts against each node's capacity. */
  reservations?: { cpus?: number; memoryBytes?: number };
  /** What the engine enforces (NanoCpus, Memory, PidsLimit). Part of the spec version: changing limits needs new containers. */
  limits?: { cpus?: number; memoryBytes?: number; pids?: number };
}

/** What a node reports of itself, from its engine, kept current. */
export interface NodeFacts {
  cpus: number;
  memoryBytes: number;
  /** `linux` */
  os: string;
  /** `x86_64`, `aarch64` (the engine's own spelling) */
  arch: string;
  engineVersion: string;
}

/** A parsed constraint. */
export interface Constraint {
  /** The text as given, for messages. */
  text: string;
  /** `node.labels.zone`, `node.role`, `node.name`, `node.id`, `node.hostname`, `node.platform.os`, `node.platform.arch`, `engine.labels.x` is not supported. */
  key: string;
  op: '==' | '!=';
  value: string;
}

const CONSTRAINT = /^\s*(node\.(?:labels\.[A-Za-z0-9_.\-/]+|role|name|id|hostname|platform\.os|platform\.arch))\s*(==|!=)\s*(.+?)\s*$/;

/** Parses `node.labels.zone==a`; returns a message naming what is wrong when it is not a constraint. */
export function parseConstraint(text: string): Constraint | string {
  const match = CONSTRAINT.exec(text);
  if (!match) {
    return `"${text}" is not a constraint: use KEY==VALUE or KEY!=VALUE with KEY one of node.labels.<name>, node.role, node.name, node.id, node.hostname, node.platform.os, node.platform.arch`;
  }
  return { text: text.trim(), key: match[1]!, op: match[2] as '==' | '!=', value: match[3]! };
}

/** A spread descriptor: `node.labels.zone`, or another node attribute a constraint may name. */
export function isSpreadDescriptor(text: string): boolean {
  return /^node\.(labels\.[A-Za-z0-9_.\-/]+|role|name|id|hostname|platform\.os|platform\.arch)$/.test(text);
}

/** The node attributes constraints and preferences read. */
export interface PlacementNode {
  id: string;
  name: string;
  role: string;
  labels: Readonly<Record<string, string>>;
  facts: NodeFacts | null;
}

/** The value of `node.labels.zone` (etc.) on a node; undefined when the node has no such label or fact. */
export function nodeAttribute(node: PlacementNode, key: string): string | undefined {
  if (key.startsWith('node.labels.')) return node.labels[key.slice('node.labels.'.length)];
  switch (key) {
    case 'node.role':
      return node.role;
    case 'node.name':
    case 'node.hostname':
      return node.name;
    case 'node.id':
      return node.id;
    case 'node.platform.os':
      return node.facts?.os;
    case 'node.platform.arch':
      return node.facts?.arch;
    default:
      return undefined;
  }
}

/** Swarm's rule: `==` needs the attribute equal; `!=` holds when it differs or is absent. Label values compare exactly, names and roles case-insensitively. */
export function satisfies(node: PlacementNode, c: Constraint): boolean {
  const actual = nodeAttribute(node, c.key);
  const exact = c.key.startsWith('node.labels.');
  const equal = actual !== undefined && (exact ? actual === c.value : actual.toLowerCase() === c.value.toLowerCase());
  return c.op === '==' ? equal : !equal;
}
