import type { ApiClient } from './api-client';
import {
  drainPendingLines, drainPicture, drainStatus, drainText, isDrained, liveTaskLines, pendingLines, progressText,
  rebalanceText, removalText, type DrainPicture, type NodeRef, type WaitGoal,
} from './converge';
import { rolloutVerdict } from './rollout-verdict';
import type { Service } from './types';

/** Time and output, injected so the waiting logic is tested without sleeping. */
export interface WaitDeps {
  nowMs: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Receives a progress line (the shell writes it to stderr). */
  report: (line: string) => void;
}

export const realWaitDeps: WaitDeps = {
  nowMs: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  report: (line) => process.stderr.write(line + '\n'),
};

export const POLL_INTERVAL_MS = 250;

/** Thrown when a wait runs out of time; its message says what is pending. */
export class WaitTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WaitTimeoutError';
  }
}

export interface PollOptions<T> {
  poll: () => Promise<T>;
  done: (value: T) => boolean;
  /** The progress line for a value; reported only when it changes. */
  describe: (value: T) => string;
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Polls until `done` holds or `timeoutMs` passes. Returns whether it is
 * done and the last value seen. Errors from `poll` propagate.
 */
export async function pollUntil<T>(options: PollOptions<T>, deps: WaitDeps): Promise<{ done: boolean; last: T }> {
  const deadline = deps.nowMs() + options.timeoutMs;
  let lastLine: string | undefined;
  for (;;) {
    const value = await options.poll();
    const line = options.describe(value);
    if (line !== lastLine) {
      deps.report(line);
      lastLine = line;
    }
    if (options.done(value)) return { done: true, last: value };
    if (deps.nowMs() >= deadline) return { done: false, last: value };
    await deps.sleep(Math.min(options.intervalMs ?? POLL_INTERVAL_MS, Math.max(0, deadline - deps.nowMs())));
  }
}

/** Thrown when a rollout ended in a decision against it: paused, rolled back, or every replica failing. */
export class RolloutFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RolloutFailedError';
  }
}

/**
 * Waits until the service has converged (see rolloutVerdict): returns it,
 * or throws RolloutFailedError (paused, rolled back, given up) or
 * WaitTimeoutError.
 */
export async function waitForService(
  client: ApiClient,
  name: string,
  timeoutSeconds: number,
  deps: WaitDeps,
  goal: WaitGoal = {},
): Promise<Service> {
  const { done, last } = await pollUntil(
    {
      poll: () => client.getService(name),
      done: (s) => rolloutVerdict(s, goal).done,
      describe: (s) => progressText(s, goal),
      timeoutMs: timeoutSeconds * 1000,
    },
    deps,
  );
  if (done) {
    const verdict = rolloutVerdict(last, goal);
    if (verdict.done && !verdict.ok) throw new RolloutFailedError(verdict.message);
    return last;
  }
  const details = pendingLines(last, goal).map((line) => `\n  ${line}`).join('');
  throw new WaitTimeoutError(
    `${name} did not converge within ${timeoutSeconds}s (${last.running}/${last.replicas} running, state ${last.state})${details}` +
      `\nthe daemon keeps trying; watch it with: bicycle service ps ${name}`,
  );
}

/** Waits until GET /services/:name answers 404, or throws WaitTimeoutError. */
export async function waitForRemoval(client: ApiClient, name: string, timeoutSeconds: number, deps: WaitDeps): Promise<void> {
  const { done, last } = await pollUntil<Service | null>(
    {
      poll: () => client.findService(name),
      done: (s) => s === null,
      describe: (s) => removalText(name, s),
      timeoutMs: timeoutSeconds * 1000,
    },
    deps,
  );
  if (done || !last) return;
  const details = liveTaskLines(last).map((line) => `\n  ${line}`).join('');
  throw new WaitTimeoutError(`${name} was not removed within ${timeoutSeconds}s (state ${last.state})${details}`);
}

/**
 * Waits until nothing of any service is left on a drained node (see
 * isDrained), reading GET /services, or throws WaitTimeoutError.
 */
export async function waitForDrain(client: ApiClient, node: NodeRef, timeoutSeconds: number, deps: WaitDeps): Promise<void> {
  const { done, last } = await pollUntil<DrainPicture>(
    {
      poll: async () => drainPicture(await client.listServicesWithTasks(), node),
      done: isDrained,
      describe: (picture) => drainText(node, picture),
      timeoutMs: timeoutSeconds * 1000,
    },
    deps,
  );
  if (done) return;
  const details = drainPendingLines(node, last).map((line) => `\n  ${line}`).join('');
  throw new WaitTimeoutError(
    `${node.name} was not drained within ${timeoutSeconds}s (${drainStatus(last)})${details}` +
      `\nthe node stays drained and the daemon keeps moving its replicas; watch it with: bicycle node ls`,
  );
}

/** Waits until the daemon clears the service's `rebalancing` flag, or throws WaitTimeoutError. */
export async function waitForRebalance(client: ApiClient, name: string, timeoutSeconds: number, deps: WaitDeps): Promise<Service> {
  const { done, last } = await pollUntil(
    {
      poll: () => client.getService(name),
      done: (s) => s.rebalancing !== true,
      describe: rebalanceText,
      timeoutMs: timeoutSeconds * 1000,
    },
    deps,
  );
  if (done) return last;
  const pending = pendingLines(last).map((line) => `\n  ${line}`).join('');
  throw new WaitTimeoutError(
    `${name} did not finish rebalancing within ${timeoutSeconds}s (${last.running}/${last.replicas} running, state ${last.state})${pending}` +
      `\nthe daemon moves replicas only while the service has converged; watch it with: bicycle service ps ${name}`,
  );
}
