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
 */
export class Loop {
  private running = false;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly pass: () => Promise<number | void>,
    private readonly log: Logger,
    private readonly options: { resyncIntervalMs: number; debounceMs?: number; onPass?: (loop: string, seconds: number, failed: boolean) => void },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), this.options.resyncIntervalMs);
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
      const started = performance.now();
      try {
        const wakeAt = await this.pass();
        this.options.onPass?.(this.name, (performance.now() - started) / 1000, false);
        if (typeof wakeAt === 'number' && Number.isFinite(wakeAt)) this.wakeAt(wakeAt);
      } catch (error) {
        this.options.onPass?.(this.name, (performance.now() - started) / 1000, true);
        // No leader for a moment (an election) is expected and retried; anything else is worth a warning.
        const passing = error instanceof BicycleError && error.retryable;
        this.log.log(passing ? 'debug' : 'warn', `${this.name} pass failed; will retry`, { error: errorMessage(error) });
      }
    } while (this.again && !this.stopped);
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
