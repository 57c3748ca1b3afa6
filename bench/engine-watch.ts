import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { onJsonLines } from '../daemon/json-lines';

/**
 * Watches one engine's container events for the containers carrying a
 * label, and answers when the engine itself has started (or destroyed) N
 * distinct such containers, at the engine's own event time. The stream is
 * opened with `since` a little before the measured request, so an event
 * that comes before the stream is attached is replayed, not lost.
 */
export class EngineWatch {
  private readonly seen = new Map<string, Map<string, number>>();
  private waiters: (() => void)[] = [];
  private failure: Error | undefined;

  private constructor(private readonly stream: Readable) {
    onJsonLines(stream, (value) => {
      const event = value as { Action?: string; id?: string; Actor?: { ID?: string }; timeNano?: number };
      const action = event.Action ?? '';
      const id = event.Actor?.ID ?? event.id ?? '';
      let ids = this.seen.get(action);
      if (!ids) this.seen.set(action, (ids = new Map()));
      if (!ids.has(id)) ids.set(id, (event.timeNano ?? Date.now() * 1e6) / 1e6);
      this.wake();
    });
    stream.on('error', (error: Error) => {
      this.failure = error;
      this.wake();
    });
  }

  /** Opens the event stream of `docker` for containers labelled `label` (key=value), replaying from `sinceMs`. */
  static async open(docker: Docker, label: string, sinceMs: number): Promise<EngineWatch> {
    const stream = (await docker.getEvents({
      since: Math.floor(sinceMs / 1000) - 1,
      filters: { type: ['container'], event: ['start', 'destroy'], label: [label] },
    })) as unknown as Readable;
    return new EngineWatch(stream);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Engine time (ms since the epoch) at which the count-th distinct container saw `action`; rejects after timeoutMs. */
  async waitFor(action: 'start' | 'destroy', count: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.failure) throw this.failure;
      const ids = this.seen.get(action);
      if (ids && ids.size >= count) return [...ids.values()].sort((a, b) => a - b)[count - 1]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the engine saw ${ids?.size ?? 0} of ${count} containers ${action === 'start' ? 'start' : 'go'} within ${timeoutMs / 1000} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.stream.destroy();
  }
}
