import type { Command } from '../../database/commands';
import type { NodeRecord, ServiceRecord } from '../../database/queries';
import { nodeAttribute, parseConstraint, satisfies, type Constraint, type Strategy } from '../../database/placement';
import type { PendingTask } from '../../database/task-summary';
import { isSchedulable } from '../../database/node-state';
import { scoreFor, type Demand, type NodeLoad, type Score } from './strategies';

/**
 * Placement for services that ask for more than an even spread
 * (docs/deployment.md, "Placement"): filters first — availability,
 * constraints, reserved resources against each node's capacity, at most
 * `maxReplicasPerNode` — then spread preferences (strict where feasible:
 * each replica goes to the least crowded value of each descriptor in turn
 * that still has a node that fits), then the strategy's score among the
 * nodes of that domain. A task that fits nowhere is left pending with the
 * reason, filter by filter, as swarmkit's Filter.Explain does. Pure.
 */

/** The cluster as one scheduling pass sees it, shared by every service of the pass and updated as tasks are placed. */
export class ClusterLoad {
  readonly nodes: NodeRecord[];
  readonly tasks: Float64Array;
  readonly cpus: Float64Array;
  readonly memoryBytes: Float64Array;
  private readonly index = new Map<string, number>();
  private readonly perService = new Map<string, Map<number, number>>();

  constructor(nodes: readonly NodeRecord[], placed: Iterable<{ serviceName: string; nodeId: string; tasks: number }>, services: ReadonlyMap<string, ServiceRecord>) {
    this.nodes = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.nodes.forEach((n, i) => this.index.set(n.id, i));
    this.tasks = new Float64Array(this.nodes.length);
    this.cpus = new Float64Array(this.nodes.length);
    this.memoryBytes = new Float64Array(this.nodes.length);
    for (const p of placed) {
      const i = this.index.get(p.nodeId);
      if (i !== undefined && p.tasks > 0) this.add(p.serviceName, i, p.tasks, demandOf(services.get(p.serviceName)));
    }
  }

  indexOf(nodeId: string): number | undefined {
    return this.index.get(nodeId);
  }

  serviceTasks(serviceName: string, i: number): number {
    return this.perService.get(serviceName)?.get(i) ?? 0;
  }

  add(serviceName: string, i: number, count: number, demand: Demand): void {
    this.tasks[i]! += count;
    this.cpus[i]! += demand.cpus * count;
    this.memoryBytes[i]! += demand.memoryBytes * count;
    let m = this.perService.get(serviceName);
    if (!m) this.perService.set(serviceName, (m = new Map()));
    m.set(i, (m.get(i) ?? 0) + count);
  }

  private readonly scratch: NodeLoad = { serviceTasks: 0, tasks: 0, cpus: 0, memoryBytes: 0, cpuCapacity: 0, memoryCapacity: 0 };

  /** The node's counters for scoring; the object is reused by the next call (scores read it at once). */
  load(serviceName: string, i: number): NodeLoad {
    const facts = this.nodes[i]!.facts;
    const l = this.scratch;
    l.serviceTasks = this.serviceTasks(serviceName, i);
    l.tasks = this.tasks[i]!;
    l.cpus = this.cpus[i]!;
    l.memoryBytes = this.memoryBytes[i]!;
    l.cpuCapacity = facts?.cpus ?? 0;
    l.memoryCapacity = facts?.memoryBytes ?? 0;
    return l;
  }

  /** The nodes of a service and how many of its tasks each holds. */
  nodesOf(serviceName: string): ReadonlyMap<number, number> {
    return this.perService.get(serviceName) ?? new Map();
  }

  /** Static filtering and domain grouping, shared by services with the same constraints, needs and preferences within a pass. */
  readonly shapes = new Map<string, Shape>();
}

export function demandOf(service: ServiceRecord | undefined): Demand {
  const r = service?.resources.reservations;
  return { cpus: r?.cpus ?? 0, memoryBytes: r?.memoryBytes ?? 0 };
}

/** Whether a service needs this path: anything beyond an even spread of tasks that reserve nothing. */
export function needsFilteredPlacement(service: ServiceRecord, defaultStrategy: Strategy): boolean {
  const p = service.placement;
  const d = demandOf(service);
  return (
    (p.constraints?.length ?? 0) > 0 || (p.preferences?.length ?? 0) > 0 || (p.maxReplicasPerNode ?? 0) > 0 ||
    (p.strategy ?? defaultStrategy) !== 'spread' || d.cpus > 0 || d.memoryBytes > 0
  );
}

/** Parsed constraints; one that does not parse (refused at the API, so only from a hand-edited database) fits no node. */
export function compileConstraints(service: ServiceRecord): { constraints: Constraint[]; broken: string | null } {
  const constraints: Constraint[] = [];
  for (const text of service.placement.constraints ?? []) {
    const c = parseConstraint(text);
    if (typeof c === 'string') return { constraints, broken: c };
    constraints.push(c);
  }
  return { constraints, broken: null };
}

/** Why a node cannot take any replica of the service, whatever is placed: a filter that does not depend on load; null if it can. */
export function staticMisfit(node: NodeRecord, constraints: readonly Constraint[], demand: Demand): string | null {
  if (!isSchedulable(node)) return node.status !== 'READY' ? `are ${node.status}` : `are ${node.availability === 'drain' ? 'drained' : 'paused'}`;
  for (const c of constraints) if (!satisfies(node, c)) return `fail ${c.text}`;
  if ((demand.cpus > 0 || demand.memoryBytes > 0) && !node.facts) return 'have not reported their resources yet';
  return null;
}

function formatCpus(n: number): string {
  return `${Number(n.toFixed(3))} CPU${n === 1 ? '' : 's'}`;
}

function formatBytes(n: number): string {
  const mib = n / 2 ** 20;
  return mib >= 1024 ? `${Number((mib / 1024).toFixed(2))} GiB` : `${Number(mib.toFixed(1))} MiB`;
}

/** Why a node cannot take one more replica now (capacity, per-node limit); null if it can. */
function loadMisfit(load: ClusterLoad, service: ServiceRecord, i: number, demand: Demand): string | null {
  const max = service.placement.maxReplicasPerNode ?? 0;
  if (max > 0 && load.serviceTasks(service.name, i) >= max) return `run ${max} replica${max === 1 ? '' : 's'} of ${service.name} already (maxReplicasPerNode ${max})`;
  const facts = load.nodes[i]!.facts;
  if (demand.cpus > 0 && facts && load.cpus[i]! + demand.cpus > facts.cpus + 1e-9) return `lack ${formatCpus(demand.cpus)} free`;
  if (demand.memoryBytes > 0 && facts && load.memoryBytes[i]! + demand.memoryBytes > facts.memoryBytes) return `lack ${formatBytes(demand.memoryBytes)} of memory free`;
  return null;
}

/** A domain of the spread hierarchy: the nodes sharing the values of the descriptors down to its level. */
interface Domain {
  value: string;
  /** Tasks of the service in the domain. */
  tasks: number;
  children: Domain[] | null;
  /** Leaf: its candidate nodes, by best score first (a heap), and whether any may still fit. */
  heap: NodeScoreHeap | null;
  /** Leaf, round-robin: its nodes in name order. */
  ring: number[] | null;
  exhausted: boolean;
}

export interface FilteredPlacement {
  commands: Command[];
  unplaced: { taskId: string; reason: string }[];
}

/**
 * Places one service's pending tasks (slot order) through the filters,
 * preferences and strategy, updating `load`. `cursors` keeps round-robin's
 * position per service across passes of one leader.
 */
export function placeFiltered(
  service: ServiceRecord,
  pending: readonly PendingTask[],
  load: ClusterLoad,
  defaultStrategy: Strategy,
  cursors: Map<string, string>,
  at: number,
): FilteredPlacement {
  const out: FilteredPlacement = { commands: [], unplaced: [] };
  const demand = demandOf(service);
  const descriptors = (service.placement.preferences ?? []).map((p) => p.spread);
  const shape = shapeOf(service, load, demand, descriptors);
  const strategy = service.placement.strategy ?? defaultStrategy;
  const score: Score | null = strategy === 'round-robin' ? null : scoreFor(strategy, shape.candidates.length);
  const root = buildDomains(service, load, shape, score, demand, descriptors);
  const maxPerValue = descriptors.length > 0 ? (service.placement.maxPerValue ?? 0) : 0;
  const loadMisfits = new Map<number, string>();
  const misfits = shape.misfits;

  for (const task of pending) {
    const placed = placeOne(service, root, 0, load, demand, score, cursors, loadMisfits, maxPerValue);
    if (placed === null) {
      out.unplaced.push({ taskId: task.id, reason: explain(load.nodes.length, misfits, loadMisfits, maxPerValue > 0 ? descriptors[0]! : null, maxPerValue) });
      continue;
    }
    out.commands.push({ type: 'task.assign', taskId: task.id, nodeId: load.nodes[placed]!.id, at });
  }
  return out;
}

/** A service's candidate nodes (those passing the filters that do not depend on load), why the others fail, and their grouping by the preferences. */
interface Shape {
  candidates: number[];
  misfits: Map<string, number>;
  /** The domain tree's structure: for each leaf, the path of values and its member nodes. */
  tree: ShapeNode;
  /** Each candidate's leaf. */
  leafOf: Map<number, ShapeNode[]>;
}

interface ShapeNode {
  value: string;
  members: number[];
  children: ShapeNode[] | null;
}

function shapeOf(service: ServiceRecord, load: ClusterLoad, demand: Demand, descriptors: string[]): Shape {
  const key = `${JSON.stringify(service.placement.constraints ?? [])}|${demand.cpus > 0 || demand.memoryBytes > 0}|${JSON.stringify(descriptors)}`;
  const cached = load.shapes.get(key);
  if (cached) return cached;
  const { constraints, broken } = compileConstraints(service);
  const misfits = new Map<string, number>();
  const candidates: number[] = [];
  for (let i = 0; i < load.nodes.length; i++) {
    const why = broken ?? staticMisfit(load.nodes[i]!, constraints, demand);
    if (why) misfits.set(why, (misfits.get(why) ?? 0) + 1);
    else candidates.push(i);
  }
  const leafOf = new Map<number, ShapeNode[]>();
  const group = (value: string, members: number[], level: number, path: ShapeNode[]): ShapeNode => {
    const node: ShapeNode = { value, members, children: null };
    const here = [...path, node];
    if (level === descriptors.length) {
      for (const i of members) leafOf.set(i, here);
      return node;
    }
    const groups = new Map<string, number[]>();
    // A node without the attribute is a value of its own, "" (as Swarm groups them).
    for (const i of members) {
      const v = nodeAttribute(load.nodes[i]!, descriptors[level]!) ?? '';
      const g = groups.get(v);
      if (g) g.push(i);
      else groups.set(v, [i]);
    }
    node.children = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([v, m]) => group(v, m, level + 1, here));
    return node;
  };
  const shape: Shape = { candidates, misfits, tree: group('', candidates, 0, []), leafOf };
  load.shapes.set(key, shape);
  return shape;
}

/** The service's own domain tree: the shape, with the service's task counts per domain and a heap of nodes per leaf. */
function buildDomains(service: ServiceRecord, load: ClusterLoad, shape: Shape, score: Score | null, demand: Demand, descriptors: readonly string[]): Domain {
  const domains = new Map<ShapeNode, Domain>();
  const make = (node: ShapeNode): Domain => {
    const children = node.children ? node.children.map(make) : null;
    let heap: NodeScoreHeap | null = null;
    if (!children && score) {
      const scores = new Float64Array(node.members.length);
      node.members.forEach((i, k) => (scores[k] = score(load.load(service.name, i), demand)));
      heap = NodeScoreHeap.of(scores, node.members);
    }
    const domain: Domain = { value: node.value, tasks: 0, children, heap, ring: children || score ? null : node.members, exhausted: node.members.length === 0 };
    domains.set(node, domain);
    return domain;
  };
  const root = make(shape.tree);
  // The service's tasks counted up its domains: only the nodes that hold some are visited. Those on a node that
  // takes no new task but keeps what runs (paused) count in the domains of its values all the same.
  for (const [i, count] of load.nodesOf(service.name)) {
    for (const node of shape.leafOf.get(i) ?? pathOf(shape.tree, load.nodes[i]!, descriptors)) domains.get(node)!.tasks += count;
  }
  return root;
}

/** The domains, from the root down, whose values a node that is not a candidate has. */
function pathOf(tree: ShapeNode, node: NodeRecord, descriptors: readonly string[]): ShapeNode[] {
  const path = [tree];
  let at = tree;
  for (const d of descriptors) {
    const v = nodeAttribute(node, d) ?? '';
    const child = at.children?.find((c) => c.value === v);
    if (!child) break;
    path.push(child);
    at = child;
  }
  return path;
}

/** Places one task under `domain`; returns the node, or null when nothing under it fits (it is then exhausted). */
function placeOne(
  service: ServiceRecord, domain: Domain, level: number, load: ClusterLoad, demand: Demand, score: Score | null,
  cursors: Map<string, string>, misfits: Map<number, string>, maxPerValue: number,
): number | null {
  if (domain.exhausted) return null;
  if (domain.children) {
    // The least crowded child that still has room, then the next: strict spread wherever it is feasible.
    for (;;) {
      let best: Domain | null = null;
      for (const child of domain.children) {
        if (child.exhausted || (level === 0 && maxPerValue > 0 && child.tasks >= maxPerValue)) continue;
        if (!best || child.tasks < best.tasks) best = child;
      }
      if (!best) {
        // Within a pass counts only grow: what is full now stays full.
        domain.exhausted = true;
        return null;
      }
      const node = placeOne(service, best, level + 1, load, demand, score, cursors, misfits, maxPerValue);
      if (node !== null) {
        best.tasks++;
        domain.tasks++;
        return node;
      }
    }
  }
  if (domain.heap) {
    const heap = domain.heap;
    while (heap.size > 0) {
      const i = heap.pop();
      const why = loadMisfit(load, service, i, demand);
      // Within one pass load only grows: a node that does not fit now never will; it leaves this service's heap.
      if (why) {
        misfits.set(i, why);
        continue;
      }
      load.add(service.name, i, 1, demand);
      heap.push(score!(load.load(service.name, i), demand), i);
      return i;
    }
    domain.exhausted = true;
    return null;
  }
  // Round-robin: the next node after the one this service got last, in name order.
  const ring = domain.ring!;
  const last = cursors.get(service.name);
  const lastIndex = last === undefined ? -1 : load.indexOf(last) ?? -1;
  let start = ring.findIndex((i) => i > lastIndex);
  if (start < 0) start = 0;
  for (let k = 0; k < ring.length; k++) {
    const i = ring[(start + k) % ring.length]!;
    const why = loadMisfit(load, service, i, demand);
    if (why) {
      misfits.set(i, why);
      continue;
    }
    load.add(service.name, i, 1, demand);
    cursors.set(service.name, load.nodes[i]!.id);
    return i;
  }
  domain.exhausted = true;
  return null;
}

/** `no node fits: 2 fail node.labels.zone==a, 1 lacks 2 CPUs free` (counts per reason, most first). */
function explain(nodeCount: number, staticMisfits: Map<string, number>, loadMisfits: Map<number, string>, descriptor: string | null, maxPerValue: number): string {
  if (nodeCount === 0) return 'no nodes in the cluster';
  const counts = new Map(staticMisfits);
  for (const why of loadMisfits.values()) counts.set(why, (counts.get(why) ?? 0) + 1);
  const parts = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([why, n]) => `${n} ${n === 1 ? singular(why) : why}`);
  if (descriptor && parts.length === 0) parts.push(`every value of ${descriptor} has ${maxPerValue} (maxPerValue)`);
  return `no node fits: ${parts.join(', ')}`;
}

/** "fail x" → "fails x", "lack …" → "lacks …", "have …" → "has …", "run …" → "runs …", "are …" → "is …". */
function singular(why: string): string {
  return why.replace(/^(fail|lack|run)\b/, '$1s').replace(/^have\b/, 'has').replace(/^are\b/, 'is');
}

/** A min-heap of (score, node index); ties go to the lower index (the first by name). */
class NodeScoreHeap {
  private scores: number[] = [];
  private nodes: number[] = [];

  /** A heap of these (score, node) pairs, built in linear time. */
  static of(scores: ArrayLike<number>, nodes: readonly number[]): NodeScoreHeap {
    const heap = new NodeScoreHeap();
    heap.scores = Array.from(scores);
    heap.nodes = [...nodes];
    for (let i = (heap.nodes.length >> 1) - 1; i >= 0; i--) heap.down(i);
    return heap;
  }

  get size(): number {
    return this.nodes.length;
  }

  push(score: number, node: number): void {
    let i = this.nodes.length;
    this.scores.push(score);
    this.nodes.push(node);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): number {
    const top = this.nodes[0]!;
    const lastScore = this.scores.pop()!;
    const lastNode = this.nodes.pop()!;
    if (this.nodes.length > 0) {
      this.scores[0] = lastScore;
      this.nodes[0] = lastNode;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.nodes.length && this.less(l, m)) m = l;
      if (r < this.nodes.length && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private less(a: number, b: number): boolean {
    return this.scores[a]! < this.scores[b]! || (this.scores[a] === this.scores[b] && this.nodes[a]! < this.nodes[b]!);
  }

  private swap(a: number, b: number): void {
    [this.scores[a], this.scores[b]] = [this.scores[b]!, this.scores[a]!];
    [this.nodes[a], this.nodes[b]] = [this.nodes[b]!, this.nodes[a]!];
  }
}
