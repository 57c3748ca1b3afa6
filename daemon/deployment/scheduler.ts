import type { Command } from '../../database/commands';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../database/queries';
import type { Strategy } from '../../database/placement';
import { ClusterLoad, needsFilteredPlacement, placeFiltered } from './filtered-placement';
import type { PendingTask, PlacedCount } from '../../database/task-summary';
import { isSchedulable } from '../../database/node-state';
import { isTerminalTaskState } from '../../database/task-state';

export interface Unplaced {
  taskId: string;
  reason: string;
}

export interface ScheduleResult {
  commands: Command[];
  unplaced: Unplaced[];
}

/**
 * What the scheduler needs of the task table: how many tasks of each
 * service hold a place on each node, and the tasks waiting for one. The
 * leader's pass has SQLite count them (countPlacedTasks, listPendingTasks),
 * so it never holds a row per replica; schedulerInput() derives the same
 * from task rows.
 */
export interface SchedulerInput {
  /** Tasks wanted RUNNING, on a node, not ended: counted by (service, node id), each pair at most once. */
  placed: readonly PlacedCount[];
  /** Tasks NEW, wanted RUNNING, on no node; ties of (service, slot) are placed in this order. */
  pending: readonly PendingTask[];
}

/** The scheduler's input from task rows (pending tasks in the rows' order): what the two SQL reads answer for the table. */
export function schedulerInput(tasks: readonly TaskRecord[]): SchedulerInput {
  const placed = new Map<string, PlacedCount>();
  const pending: PendingTask[] = [];
  for (const t of tasks) {
    if (isPending(t)) {
      pending.push({ id: t.id, serviceName: t.serviceName, slot: t.slot });
    } else if (holdsPlace(t)) {
      const key = `${t.serviceName}\0${t.nodeId}`;
      const count = placed.get(key);
      if (count) count.tasks++;
      else placed.set(key, { serviceName: t.serviceName, nodeId: t.nodeId!, tasks: 1 });
    }
  }
  return { placed: [...placed.values()], pending };
}

/** A task the scheduler must place: NEW, wanted RUNNING, on no node. */
export function isPending(t: Pick<TaskRecord, 'nodeId' | 'state' | 'desiredState'>): boolean {
  return t.nodeId === null && t.state === 'NEW' && t.desiredState === 'RUNNING';
}

/** A task that counts against its node: wanted RUNNING, on a node, not ended. */
export function holdsPlace(t: Pick<TaskRecord, 'nodeId' | 'state' | 'desiredState'>): boolean {
  return t.nodeId !== null && t.desiredState === 'RUNNING' && !isTerminalTaskState(t.state);
}

/**
 * Places every pending task on a schedulable node (READY and active),
 * spreading each service evenly: the node with the fewest tasks of this
 * service first, then the fewest tasks in all, then the name. Pure: the
 * same input gives the same placements.
 *
 * Cost: O((pending + placed + nodes) log nodes), not O(tasks x nodes). The
 * pending tasks are taken service by service (sorted by service, then
 * slot). Within one service, nodes sit in buckets by their count of that
 * service; each bucket is a min-heap on (total count, rank by name). Bucket 0
 * is one heap of all nodes kept across services; the few nodes that already
 * hold tasks of the service are lifted out of it into their buckets for the
 * service's turn and put back after. Choosing a node is then: lowest
 * non-empty bucket, top of its heap; only that node's counts change, and it
 * moves up one bucket. This picks exactly what a scan over all nodes with
 * the key (count of the service, total, name) would.
 */
export interface PlacementOptions {
  /** The services, for their placement settings and reservations; without them every service is spread evenly. */
  services?: ReadonlyMap<string, ServiceRecord>;
  /** The cluster's default strategy (`deployment.strategy`). */
  strategy?: Strategy;
  /** Round-robin's last node per service, kept by the caller across passes. */
  cursors?: Map<string, string>;
}

/**
 * Places every pending task: services that ask for nothing but an even
 * spread of tasks that reserve nothing through the fast path below
 * (`spreadEvenly`); the others through their filters, preferences and
 * strategy (filtered-placement.ts), seeing what the fast path placed.
 */
export function schedule(input: SchedulerInput, nodes: readonly NodeRecord[], at: number, options: PlacementOptions = {}): ScheduleResult {
  const services = options.services;
  const strategy = options.strategy ?? 'spread';
  if (!services || input.pending.length === 0) return spreadEvenly(input, nodes, at);
  const filtered = new Set<string>();
  for (const s of services.values()) if (needsFilteredPlacement(s, strategy)) filtered.add(s.name);
  if (filtered.size === 0) return spreadEvenly(input, nodes, at);
  const plain = input.pending.filter((t) => !filtered.has(t.serviceName));
  const fast = spreadEvenly({ placed: input.placed, pending: plain }, nodes, at);
  const placed = [...input.placed];
  const plainById = new Map(plain.map((t) => [t.id, t]));
  for (const c of fast.commands) {
    if (c.type !== 'task.assign') continue;
    const task = plainById.get(c.taskId);
    if (task) placed.push({ serviceName: task.serviceName, nodeId: c.nodeId, tasks: 1 });
  }
  const load = new ClusterLoad(nodes, placed, services);
  const result: ScheduleResult = { commands: [...fast.commands], unplaced: [...fast.unplaced] };
  const byService = new Map<string, PendingTask[]>();
  for (const t of input.pending) {
    if (!filtered.has(t.serviceName)) continue;
    const list = byService.get(t.serviceName);
    if (list) list.push(t);
    else byService.set(t.serviceName, [t]);
  }
  for (const [name, tasks] of [...byService.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    tasks.sort((a, b) => a.slot - b.slot);
    const one = placeFiltered(services.get(name)!, tasks, load, strategy, options.cursors ?? new Map(), at);
    result.commands.push(...one.commands);
    result.unplaced.push(...one.unplaced);
  }
  return result;
}

/**
 * Places every pending task on a schedulable node (READY and active),
 * spreading each service evenly (see schedule() above for the rest).
 */
function spreadEvenly(input: SchedulerInput, nodes: readonly NodeRecord[], at: number): ScheduleResult {
  const candidates = nodes.filter(isSchedulable).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const pending = [...input.pending].sort((a, b) => (a.serviceName < b.serviceName ? -1 : a.serviceName > b.serviceName ? 1 : a.slot - b.slot));
  if (pending.length === 0) return { commands: [], unplaced: [] };
  if (candidates.length === 0) {
    const reason = explainNoNode(nodes);
    return { commands: [], unplaced: pending.map((t) => ({ taskId: t.id, reason })) };
  }

  // A node is its rank in name order. Of two candidates with one id (not in
  // a real cluster) the first ranked would always win the tie, so the other
  // is left out.
  const rankOf = new Map<string, number>();
  const ids: string[] = [];
  for (const n of candidates) {
    if (!rankOf.has(n.id)) {
      rankOf.set(n.id, ids.length);
      ids.push(n.id);
    }
  }
  const total = new Float64Array(ids.length);
  const perService = new Map<string, Map<number, number>>();
  for (const p of input.placed) {
    const rank = rankOf.get(p.nodeId);
    if (rank === undefined || p.tasks <= 0) continue;
    total[rank]! += p.tasks;
    let counts = perService.get(p.serviceName);
    if (!counts) perService.set(p.serviceName, (counts = new Map()));
    counts.set(rank, (counts.get(rank) ?? 0) + p.tasks);
  }

  const position = new Int32Array(ids.length);
  const unused = new NodeHeap(total, position);
  for (let rank = 0; rank < ids.length; rank++) unused.push(rank);

  const commands: Command[] = [];
  for (let first = 0; first < pending.length; ) {
    const serviceName = pending[first]!.serviceName;
    let end = first;
    while (end < pending.length && pending[end]!.serviceName === serviceName) end++;
    let counts = perService.get(serviceName);
    if (!counts) perService.set(serviceName, (counts = new Map()));
    // buckets[c]: the nodes holding c tasks of this service (c >= 1); bucket 0 is `unused`.
    const buckets: NodeHeap[] = [];
    const bucket = (c: number) => (buckets[c] ??= new NodeHeap(total, position));
    for (const [rank, c] of counts) {
      unused.remove(rank);
      bucket(c).push(rank);
    }
    let lowest = 0;
    for (let i = first; i < end; i++) {
      while ((lowest === 0 ? unused : bucket(lowest)).size === 0) lowest++;
      const rank = (lowest === 0 ? unused : bucket(lowest)).pop();
      total[rank]!++;
      counts.set(rank, lowest + 1);
      bucket(lowest + 1).push(rank);
      commands.push({ type: 'task.assign', taskId: pending[i]!.id, nodeId: ids[rank]!, at });
    }
    for (const rank of counts.keys()) unused.push(rank);
    first = end;
  }
  return { commands, unplaced: [] };
}

/**
 * A binary min-heap of node ranks ordered by (total[rank], rank). A node is
 * in at most one heap at a time, so all heaps of one schedule() call share
 * one `position` array (where each node sits in its heap), which lets
 * remove() take a node out of the middle. A node's total must not change
 * while it is in a heap.
 */
class NodeHeap {
  private readonly items: number[] = [];

  constructor(private readonly total: Float64Array, private readonly position: Int32Array) {}

  get size(): number {
    return this.items.length;
  }

  push(rank: number): void {
    this.items.push(rank);
    this.position[rank] = this.items.length - 1;
    this.up(this.items.length - 1);
  }

  /** Takes out the least node; the heap must not be empty. */
  pop(): number {
    const top = this.items[0]!;
    this.removeAt(0);
    return top;
  }

  /** Takes out a node that is in this heap. */
  remove(rank: number): void {
    this.removeAt(this.position[rank]!);
  }

  private removeAt(i: number): void {
    const last = this.items.pop()!;
    if (i === this.items.length) return;
    this.items[i] = last;
    this.position[last] = i;
    this.down(i);
    this.up(i);
  }

  private less(a: number, b: number): boolean {
    const ta = this.total[a]!;
    const tb = this.total[b]!;
    return ta < tb || (ta === tb && a < b);
  }

  private up(i: number): void {
    const items = this.items;
    const rank = items[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(rank, items[parent]!)) break;
      items[i] = items[parent]!;
      this.position[items[i]!] = i;
      i = parent;
    }
    items[i] = rank;
    this.position[rank] = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const rank = items[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.less(items[child + 1]!, items[child]!)) child++;
      if (!this.less(items[child]!, rank)) break;
      items[i] = items[child]!;
      this.position[items[i]!] = i;
      i = child;
    }
    items[i] = rank;
    this.position[rank] = i;
  }
}

/** Why no node can take a task, in words for `service ps`. */
function explainNoNode(nodes: readonly NodeRecord[]): string {
  if (nodes.length === 0) return 'no nodes in the cluster';
  const parts = nodes.map((n) => `${n.name}: ${n.status !== 'READY' ? `status ${n.status}` : `availability ${n.availability}`}`);
  return `no node can take it (${parts.join('; ')})`;
}
