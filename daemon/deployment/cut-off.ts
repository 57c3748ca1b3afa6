import type { TaskRecord } from '../../database/queries';
import type { OnDisconnect } from '../../database/on-disconnect';

export interface CutOffInput {
  /**
   * When this node last heard from a leader, in ms since the epoch, as the
   * voting thread records it (local_state `leader_contact_at`: every append,
   * heartbeat or snapshot of the leader it follows, or every tick while it
   * leads); null when none is recorded.
   */
  leaderContactAt: number | null;
  /** When this node's agent started: a node gets the whole grace from then (a stale contact time from an earlier life counts from here). */
  since: number;
  now: number;
  /** The host-loss grace (`voting.hostGraceMs`): the leader marks a node DOWN and replaces its tasks after this much silence. */
  graceMs: number;
  /** The tasks assigned to this node. */
  tasks: readonly TaskRecord[];
  /** The setting in effect for a service; undefined for a service this node does not know (its tasks are kept). */
  onDisconnect(serviceName: string): OnDisconnect | undefined;
}

export interface CutOffDecision {
  /** True when no leader has been heard from for longer than the grace. */
  cutOff: boolean;
  /** How long no leader has been heard from (counted from `since` at most), in ms. */
  silentMs: number;
  /** When the node will count as cut off if it hears from no leader before then, in ms since the epoch. */
  cutOffAt: number;
  /** The tasks whose containers this node stops and does not start while cut off: those of `stop` services. Empty unless cut off. */
  stop: ReadonlySet<string>;
}

/**
 * The rule a node applies on its own when it is cut off from every leader
 * (docs/voting.md, "Cut off from the leader"). After `graceMs` of silence
 * the leader, if there is one on the other side, has marked this node DOWN
 * and started replacements of its tasks elsewhere; so a node that has heard
 * from no leader for longer than that stops its replicas of `stop` services
 * (and starts none of them) until it hears from a leader again, while
 * replicas of `keep` services run on. Pure.
 */
export function decideCutOff(input: CutOffInput): CutOffDecision {
  const heard = Math.max(input.leaderContactAt ?? 0, input.since);
  const silentMs = Math.max(0, input.now - heard);
  const cutOffAt = heard + input.graceMs;
  const cutOff = silentMs > input.graceMs;
  const stop = new Set<string>();
  if (cutOff) {
    for (const task of input.tasks) {
      if (input.onDisconnect(task.serviceName) === 'stop') stop.add(task.id);
    }
  }
  return { cutOff, silentMs, cutOffAt, stop };
}

/** A container on this node's engine, as far as the cut-off rule cares. */
export interface CutOffContainer {
  id: string;
  taskId: string | null;
}

/**
 * Splits this node's containers for a cut-off pass: those of the tasks to
 * stop (which the agent stops and removes, reporting nothing, since no
 * leader would hear it), and the rest (reconciled as usual). Containers in
 * `busy` are already being worked on and are in neither list. Pure.
 */
export function splitCutOff<C extends CutOffContainer>(containers: readonly C[], stop: ReadonlySet<string>, busy: ReadonlySet<string>): { remove: C[]; rest: C[] } {
  const remove: C[] = [];
  const rest: C[] = [];
  for (const c of containers) {
    if (c.taskId !== null && stop.has(c.taskId)) {
      if (!busy.has(c.id)) remove.push(c);
    } else {
      rest.push(c);
    }
  }
  return { remove, rest };
}
