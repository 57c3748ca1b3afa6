import type { Command } from '../../database/commands';

/**
 * Gathers the agent's task reports that land within a few milliseconds of
 * each other into one batch proposal: starting 100 containers then costs a
 * handful of commits instead of 100. Each report resolves when its batch is
 * committed (or rejects with the batch's error).
 */
export class ReportBatcher {
  private queue: Array<{ command: Command; resolve(): void; reject(error: unknown): void }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly propose: (command: Command) => Promise<unknown>, private readonly windowMs = 10, private readonly maxBatch = 200) {}

  report(command: Command): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ command, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const command: Command = batch.length === 1 ? batch[0]!.command : { type: 'batch', commands: batch.map((b) => b.command) };
    this.propose(command).then(
      () => batch.forEach((b) => b.resolve()),
      (error: unknown) => batch.forEach((b) => b.reject(error)),
    );
  }
}
