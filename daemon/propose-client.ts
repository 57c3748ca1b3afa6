import type { Command } from '../database/commands';
import type { ApplyResult } from '../database/apply-command';
import { BicycleError } from './errors';
import type { ThreadMessage } from './messages';
import { sendTo } from './thread-runtime';

/**
 * propose(command) for any thread: sends the command to the voting thread
 * and resolves with its apply result once it is committed and applied to
 * this node's database. Rejects with UNAVAILABLE (retryable) when the voting
 * thread is not running, and TIMEOUT when no answer comes in time.
 */
export class ProposeClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(r: ApplyResult): void; reject(e: Error): void; timer: NodeJS.Timeout }>();

  constructor(private readonly timeoutMs = 30_000) {}

  propose(command: Command): Promise<ApplyResult> {
    const id = this.nextId++;
    return new Promise<ApplyResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BicycleError('TIMEOUT', `the voting thread did not commit ${command.type} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      sendTo('voting', { type: 'propose.request', id, command });
    });
  }

  /** Proposes and turns a refused command into a thrown BicycleError. */
  async proposeOrThrow(command: Command): Promise<void> {
    const result = await this.propose(command);
    if (!result.ok) throw new BicycleError(result.error.code, result.error.message);
  }

  /** Feed every message delivered to this thread; returns true if it was a propose reply. */
  handle(message: ThreadMessage): boolean {
    if (message.type === 'propose.reply') {
      this.settle(message.id, (p) => p.resolve(message.result));
      return true;
    }
    if (message.type === 'undeliverable' && message.original.type === 'propose.request') {
      this.settle(message.original.id, (p) =>
        p.reject(new BicycleError('UNAVAILABLE', 'the voting thread is restarting; try again shortly')),
      );
      return true;
    }
    return false;
  }

  /** Fails every pending proposal (thread stopping). */
  close(): void {
    for (const id of [...this.pending.keys()]) {
      this.settle(id, (p) => p.reject(new BicycleError('UNAVAILABLE', 'bicycled is stopping')));
    }
  }

  private settle(id: number, action: (p: { resolve(r: ApplyResult): void; reject(e: Error): void }) => void): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(id);
    action(entry);
  }
}
