import type { ServiceRecord, TaskRecord, UpdateStatus } from '../../database/queries';
import type { UpdatePolicy } from '../../database/lifecycle';
import { formatDuration } from '../../database/lifecycle';
import { isServing, isTerminalTaskState } from '../../database/task-state';
import type { SlotKey, SlotPlan } from './slots';

/**
 * The judgement of an update or a rollback under way (docs/deployment.md,
 * "Rolling updates"): given the replicas it created, has it failed? Every
 * deadline ends in a decision, never a stall. Pure.
 */
export type RolloutVerdict =
  | { kind: 'go' }
  | { kind: 'fail'; action: 'pause' | 'rollback'; reason: string };

export interface RolloutFacts {
  service: ServiceRecord;
  status: UpdateStatus;
  policy: UpdatePolicy;
  /** Every task of the service (live and dead). */
  tasks: readonly TaskRecord[];
  /** The places its replicas fill. */
  plan: SlotPlan;
  now: number;
}

/** When a task became able to serve: its healthy report for a checked one, its start otherwise. */
export function settledAt(task: TaskRecord): number {
  return task.health === 'healthy' ? task.updatedAt : (task.startedAt ?? task.updatedAt);
}

/** The tasks this rollout created: of the version it rolls to, created since it started. */
export function rolloutTasks(facts: Pick<RolloutFacts, 'service' | 'status' | 'tasks'>): TaskRecord[] {
  return facts.tasks.filter((t) => t.specVersion === facts.service.specVersion && t.createdAt >= facts.status.startedAt);
}

/** The latest time a replica of this rollout became able to serve, or its start. */
export function lastProgressAt(facts: Pick<RolloutFacts, 'service' | 'status' | 'tasks'>): number {
  let at = facts.status.startedAt;
  for (const t of rolloutTasks(facts)) if (t.desiredState === 'RUNNING' && isServing(t)) at = Math.max(at, settledAt(t));
  return at;
}

export function judgeRollout(facts: RolloutFacts): RolloutVerdict {
  const { service, status, policy, now } = facts;
  const what = status.kind === 'rollback' ? 'rollback' : 'update';
  const action = (): 'pause' | 'rollback' | null => {
    if (policy.failureAction === 'continue') return null;
    if (policy.failureAction === 'rollback' && status.kind === 'update') return 'rollback';
    return 'pause';
  };
  const created = rolloutTasks(facts);
  const failed = created.filter((t) => t.state === 'FAILED');
  const denominator = Math.max(1, service.replicas);
  if (failed.length > 0 && failed.length / denominator > policy.maxFailureRatio) {
    const act = action();
    if (act) {
      const last = [...failed].sort((a, b) => b.updatedAt - a.updatedAt)[0]!;
      const ratio = policy.maxFailureRatio > 0 ? `more than maxFailureRatio ${policy.maxFailureRatio} allows` : 'maxFailureRatio 0 allows none';
      return {
        kind: 'fail',
        action: act,
        reason: `${what} to version ${status.toVersion} failed: ${failed.length} of ${service.replicas} new replicas failed, ${ratio} (${last.error ?? 'failed'})`,
      };
    }
  }
  const quietMs = now - lastProgressAt(facts);
  if (quietMs > policy.progressDeadlineMs && !isComplete(facts)) {
    const act = action();
    if (act) {
      return {
        kind: 'fail',
        action: act,
        reason: `${what} to version ${status.toVersion} made no progress for ${formatDuration(policy.progressDeadlineMs)} (progressDeadline): no new replica became healthy`,
      };
    }
  }
  return { kind: 'go' };
}

/** Every place runs a serving replica of the version rolled to, and nothing of another version is left running. */
export function isComplete(facts: Pick<RolloutFacts, 'service' | 'tasks'> & { plan: SlotPlan }): boolean {
  const { service, plan } = facts;
  const serving = new Set<SlotKey>();
  for (const t of facts.tasks) {
    if (t.desiredState !== 'RUNNING' || isTerminalTaskState(t.state) || !plan.wanted(t)) continue;
    if (t.specVersion !== service.specVersion) return false;
    if (isServing(t)) serving.add(plan.keyOf(t));
  }
  return plan.keys.every((k) => serving.has(k));
}
