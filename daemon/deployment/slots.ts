import type { Command } from '../../database/commands';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../database/queries';
import { isSchedulable } from '../../database/node-state';
import { nodeAttribute, satisfies } from '../../database/placement';
import { isTerminalTaskState } from '../../database/task-state';
import { compileConstraints, demandOf } from './filtered-placement';

/**
 * The places a service's replicas fill (docs/deployment.md, "Placement").
 * A replicated service has slots 1…replicas; a global service has one place
 * per eligible node (READY, active, passing its constraints, with at least
 * the CPUs and memory the service reserves), keyed by the
 * node's id, and its tasks are created on their node. The orchestrator
 * works on keys, so restarts, rollouts and history are the same for both.
 * Pure.
 */
export type SlotKey = number | string;

export interface SlotPlan {
  /** The places to fill, in order. */
  keys: SlotKey[];
  keyOf(task: TaskRecord): SlotKey;
  /** Whether a live task in this place on its node is still wanted there (its place exists, its node still fits). */
  wanted(task: TaskRecord): boolean;
  /** The task.create fields for a new replica in this place. */
  placeOf(key: SlotKey): { slot: number; nodeId?: string };
}

export function slotPlan(service: ServiceRecord, nodes: ReadonlyMap<string, NodeRecord>): SlotPlan {
  const { constraints, broken } = compileConstraints(service);
  const fits = (node: NodeRecord | undefined) => node !== undefined && broken === null && constraints.every((c) => satisfies(node, c));
  if (service.mode === 'global') {
    const demand = demandOf(service);
    // A node smaller than the reservation is not a place for it, as a failed constraint (facts unknown: not counted against it).
    const bigEnough = (n: NodeRecord) => !n.facts || (demand.cpus <= n.facts.cpus + 1e-9 && demand.memoryBytes <= n.facts.memoryBytes);
    const eligible = [...nodes.values()].filter((n) => isSchedulable(n) && fits(n) && bigEnough(n)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const ids = new Set(eligible.map((n) => n.id));
    return {
      keys: eligible.map((n) => n.id),
      keyOf: (t) => t.nodeId ?? '',
      wanted: (t) => t.nodeId !== null && ids.has(t.nodeId),
      placeOf: (key) => ({ slot: 0, nodeId: String(key) }),
    };
  }
  const keys = Array.from({ length: service.replicas }, (_, i) => i + 1);
  return {
    keys,
    keyOf: (t) => t.slot,
    // A replica whose node no longer passes the service's constraints moves: only those, as the constraints changed.
    wanted: (t) => t.slot <= service.replicas && (t.nodeId === null || fits(nodes.get(t.nodeId))),
    placeOf: (key) => ({ slot: Number(key) }),
  };
}

/** A task wanted running, on a node, not ended. */
function isLive(t: TaskRecord): boolean {
  return t.desiredState === 'RUNNING' && t.nodeId !== null && !isTerminalTaskState(t.state);
}

/**
 * A scale-down that keeps the spread (kubernetes/kubernetes#115911 is the
 * complaint): the replicas that go are taken from the most crowded value of
 * the first spread preference, not simply the highest slots. A kept
 * replica of a slot past the new count takes over the slot of one that
 * goes (task.set-slot both ways), so the slot-based pass that follows stops
 * exactly the chosen ones. Only for a replicated service with preferences,
 * one live task per slot, and no rollout under way. Returns the commands
 * and the tasks as they will be.
 */
export function spreadKeepingSwaps(service: ServiceRecord, tasks: readonly TaskRecord[], nodes: ReadonlyMap<string, NodeRecord>, at: number): { commands: Command[]; tasks: readonly TaskRecord[] } {
  const descriptor = service.placement.preferences?.[0]?.spread;
  if (!descriptor || service.mode === 'global') return { commands: [], tasks };
  const live = tasks.filter(isLive);
  const extras = live.filter((t) => t.slot > service.replicas);
  if (extras.length === 0) return { commands: [], tasks };
  const perSlot = new Map<number, number>();
  for (const t of live) perSlot.set(t.slot, (perSlot.get(t.slot) ?? 0) + 1);
  if ([...perSlot.values()].some((n) => n > 1)) return { commands: [], tasks };
  const domainOf = (t: TaskRecord) => nodeAttribute(nodes.get(t.nodeId!) ?? ({ labels: {} } as NodeRecord), descriptor) ?? '';
  const byDomain = new Map<string, TaskRecord[]>();
  for (const t of live) {
    const d = domainOf(t);
    const list = byDomain.get(d);
    if (list) list.push(t);
    else byDomain.set(d, [t]);
  }
  const victims = new Set<string>();
  for (let n = 0; n < extras.length; n++) {
    let crowded: string | null = null;
    for (const [d, list] of byDomain) {
      if (list.length === 0) continue;
      if (crowded === null || list.length > byDomain.get(crowded)!.length || (list.length === byDomain.get(crowded)!.length && d < crowded)) crowded = d;
    }
    const list = byDomain.get(crowded!)!;
    // In the crowded domain: a replica past the new count if there is one (nothing to swap), else its highest slot.
    list.sort((a, b) => Number(b.slot > service.replicas) - Number(a.slot > service.replicas) || b.slot - a.slot);
    victims.add(list.shift()!.id);
  }
  const keptExtras = extras.filter((t) => !victims.has(t.id));
  const inPlace = live.filter((t) => victims.has(t.id) && t.slot <= service.replicas);
  const commands: Command[] = [];
  const moved = new Map<string, number>();
  inPlace.forEach((victim, i) => {
    const survivor = keptExtras[i]!;
    moved.set(survivor.id, victim.slot);
    moved.set(victim.id, survivor.slot);
    commands.push({ type: 'task.set-slot', taskId: survivor.id, slot: victim.slot, at }, { type: 'task.set-slot', taskId: victim.id, slot: survivor.slot, at });
  });
  if (moved.size === 0) return { commands, tasks };
  return { commands, tasks: tasks.map((t) => (moved.has(t.id) ? { ...t, slot: moved.get(t.id)! } : t)) };
}

/** Stale replicas in the order a rollout replaces them: with spread preferences, the most crowded value first, so that the new ones even it out. */
export function rolloutOrder(service: ServiceRecord, stale: TaskRecord[], live: readonly TaskRecord[], nodes: ReadonlyMap<string, NodeRecord>): TaskRecord[] {
  const descriptor = service.placement.preferences?.[0]?.spread;
  if (!descriptor) return stale;
  const domainOf = (t: TaskRecord) => (t.nodeId ? (nodeAttribute(nodes.get(t.nodeId) ?? ({ labels: {} } as NodeRecord), descriptor) ?? '') : '');
  const counts = new Map<string, number>();
  for (const t of live) counts.set(domainOf(t), (counts.get(domainOf(t)) ?? 0) + 1);
  return [...stale].sort((a, b) => (counts.get(domainOf(b)) ?? 0) - (counts.get(domainOf(a)) ?? 0) || a.slot - b.slot);
}
