import { performance } from 'node:perf_hooks';
import type { Logger } from '../logger';
import { errorMessage } from '../logger';
import { BicycleError } from '../errors';

/**
 * A level-triggered control loop: runs `pass` once at start, again whenever
 * woken (bursts of wake-ups coalesce into one pass), and at least every
 * `resyncIntervalMs`. Passes never overlap. A pass may return a time (ms
 * since the epoch) at which it wants to run again. A failed pass is logged
 * and retried at the next wake-up or resync: the loop never dies of it.
 * `onPass`, when given, hears each pass's duration in seconds and whether it failed.
 *
 * A resync (the timer; nothing woke the loop) is let through only once the
 * loop has been idle RESYNC_IDLE_FACTOR times as long as its last pass took:
 * where a pass over every row takes seconds (100,000 tasks), a loop at rest
 * spends at most about a tenth of its thread on resyncs instead of most of
 * it. Wake-ups and a pass's own time are never held back.
 */
/** How many times its last pass's duration a loop stays idle before a resync runs another (see Loop). */
export const RESYNC_IDLE_FACTOR = 10;

export class Loop {
  private running = false;
  /** The last pass's duration, and when the last run of passes ended (ms on `clock`). */
  private lastPassMs = 0;
  private endedAt = -Infinity;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly pass: () => Promise<number | void>,
    private readonly log: Logger,
    private readonly options: {
      resyncIntervalMs: number;
      debounceMs?: number;
      onPass?: (loop: string, seconds: number, failed: boolean) => void;
      /** Milliseconds for pass durations and idle time; performance.now unless a test gives its own. */
      clock?: () => number;
    },
  ) {}

  private now(): number {
    return this.options.clock ? this.options.clock() : performance.now();
  }

  start(): void {
    this.timer = setInterval(() => this.resync(), this.options.resyncIntervalMs);
    this.wake();
  }

  private resync(): void {
    if (this.running || this.now() - this.endedAt < this.lastPassMs * RESYNC_IDLE_FACTOR) return;
    this.wake();
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.idle = new Promise<void>((resolve) => {
      setTimeout(() => void this.runPasses().finally(resolve), this.options.debounceMs ?? 5);
    });
  }

  private async runPasses(): Promise<void> {
    do {
      this.again = false;
      const started = this.now();
      try {
        const wakeAt = await this.pass();
        this.lastPassMs = this.now() - started;
        this.options.onPass?.(this.name, this.lastPassMs / 1000, false);
        if (typeof wakeAt === 'number' && Number.isFinite(wakeAt)) this.wakeAt(wakeAt);
      } catch (error) {
        this.lastPassMs = this.now() - started;
        this.options.onPass?.(this.name, this.lastPassMs / 1000, true);
        // No leader for a moment (an election) is expected and retried; anything else is worth a warning.
        const passing = error instanceof BicycleError && error.retryable;
        this.log.log(passing ? 'debug' : 'warn', `${this.name} pass failed; will retry`, { error: errorMessage(error) });
      }
    } while (this.again && !this.stopped);
    this.endedAt = this.now();
    this.running = false;
  }

  private wakeAt(at: number): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => this.wake(), Math.max(0, at - Date.now()));
  }

  /** Stops waking and waits for a pass in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.wakeTimer);
    await this.idle;
  }
}
