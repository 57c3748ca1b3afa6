/**
 * Back-off for replacing a slot's failed task: the first failure is replaced
 * at once, then 1 s, 2 s, 4 s … up to maxMs, counting the failures seen in
 * the last windowMs. Pure.
 */
export interface BackoffPolicy {
  windowMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { windowMs: 60_000, maxMs: 10_000 };

export function restartDelayMs(recentFailures: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  if (recentFailures <= 1) return 0;
  return Math.min(policy.maxMs, 1000 * 2 ** (recentFailures - 2));
}
