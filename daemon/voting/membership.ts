import type { ErrorData } from '../errors';
import type { ConfChange, ConfState, NodeId, ProgressStatus } from './raft/index';

/**
 * Membership policy, the pure part (docs/voting.md, "Membership"): who is a
 * voter and who a learner, when a caught-up manager is promoted, and which
 * removals and demotions the leader refuses. No clock, no I/O; the voting
 * shell (daemon/voting/cluster-node.ts) applies what these decide.
 */

/** A member as the policy needs to know it (its node row). */
export interface MemberFacts {
  readonly id: NodeId;
  readonly name: string;
  readonly role: 'manager' | 'worker';
  readonly status: string;
  /** `session`: a worker outside the configuration, on a worker session (absent: a Raft learner). */
  readonly link?: 'raft' | 'session';
}

/** What the leader knows of the configuration and of each member's replication. */
export interface ConfView {
  readonly conf: ConfState;
  readonly commit: number;
  readonly progress: ReadonlyMap<NodeId, Pick<ProgressStatus, 'match'>>;
}

/** One configuration change the leader should make now, and what its log says of it. */
export interface MembershipStep {
  readonly change: ConfChange;
  readonly target: string;
  readonly log: 'promoted to voter' | 'demoted: leaves the voters' | 'rejoins as a learner';
}

/**
 * The next configuration change, one at a time (Raft changes one server at
 * a time), in the order of `members`: a manager that is a learner becomes a
 * voter once it is READY and has caught up to the commit index; a worker
 * that votes (demoted) leaves the voters, except the leader itself; a worker
 * outside the configuration (removed as a voter) comes back as a learner,
 * unless it is a session worker, which is never in it. Managers vote once
 * caught up; workers only learn.
 * @returns null when the configuration matches the roles
 */
export function nextMembershipStep(members: readonly MemberFacts[], view: ConfView, selfId: NodeId): MembershipStep | null {
  const { conf } = view;
  for (const node of members) {
    const match = view.progress.get(node.id)?.match ?? 0;
    if (node.role === 'manager' && conf.learners.includes(node.id) && match >= view.commit && node.status === 'READY') {
      return { change: { type: 'addVoter', nodeId: node.id }, target: node.name, log: 'promoted to voter' };
    }
    if (node.role === 'worker' && conf.voters.includes(node.id) && node.id !== selfId) {
      return { change: { type: 'removeNode', nodeId: node.id }, target: node.name, log: 'demoted: leaves the voters' };
    }
    if (node.role === 'worker' && node.link !== 'session' && !conf.voters.includes(node.id) && !conf.learners.includes(node.id)) {
      return { change: { type: 'addLearner', nodeId: node.id }, target: node.name, log: 'rejoins as a learner' };
    }
  }
  return null;
}

/** What `bicycle node rm` does to a member: refused, or removed (first out of the configuration when it is in it). */
export type RemovalPlan = { readonly ok: false; readonly error: ErrorData } | { readonly ok: true; readonly leavesConf: boolean };

/** The leader is never removed by itself: it must stop (leadership moves) or be removed from another node. */
export function planRemoval(node: Pick<MemberFacts, 'id' | 'name'>, conf: ConfState, selfId: NodeId): RemovalPlan {
  if (node.id === selfId) return refuse('INVALID_ARGUMENT', `${node.name} is the leader; stop it (leadership moves) or remove it from another node`);
  return { ok: true, leavesConf: conf.voters.includes(node.id) || conf.learners.includes(node.id) };
}

/**
 * Why a role change is refused, or null when it may go on. A promotion
 * always may; a demotion may not take the last manager, nor the leader
 * itself (it would stop voting while it leads).
 */
export function roleChangeRefusal(node: Pick<MemberFacts, 'id' | 'name'>, role: 'manager' | 'worker', members: readonly Pick<MemberFacts, 'id' | 'role'>[], selfId: NodeId): ErrorData | null {
  if (role === 'manager') return null;
  if (!members.some((n) => n.role === 'manager' && n.id !== node.id)) return { code: 'INVALID_ARGUMENT', message: `${node.name} is the last manager; promote another node first` };
  if (node.id === selfId) return { code: 'INVALID_ARGUMENT', message: `${node.name} is the leader; demote it from another manager after leadership moves` };
  return null;
}

/** Whom a leader that stops hands leadership to: the most up-to-date other voter (null when it is the only one). */
export function transferTarget(view: Pick<ConfView, 'conf' | 'progress'>, selfId: NodeId): NodeId | null {
  const candidates = view.conf.voters.filter((id) => id !== selfId);
  if (candidates.length === 0) return null;
  return candidates.sort((a, b) => (view.progress.get(b)?.match ?? 0) - (view.progress.get(a)?.match ?? 0))[0]!;
}

function refuse(code: ErrorData['code'], message: string): RemovalPlan {
  return { ok: false, error: { code, message } };
}
