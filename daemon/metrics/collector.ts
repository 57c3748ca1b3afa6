import { AggregatorRegistry, type Registry } from 'prom-client';
import type { ThreadMessage, ThreadMetricsJson, ThreadName } from '../messages';

/**
 * The REST thread's side of the other threads' metrics. At each scrape it
 * asks every thread that keeps metrics for its registry (a `metrics.request`
 * message; each answers `getMetricsAsJSON()`) and waits at most `timeoutMs`.
 * A thread that does not answer in time (busy, restarting) does not hold the
 * scrape: its last answer is shown instead, and
 * `bicycle_thread_metrics_fresh{thread}` says 0; a late answer is kept for
 * the next scrape. A thread that never answered has no series yet.
 */
export interface ThreadMetricsCollectorOptions {
  /** The threads that keep metrics. */
  threads: readonly ThreadName[];
  /** Posts a message to a thread (sendTo in a worker). */
  send(to: ThreadName, body: ThreadMessage): void;
  /** How long a scrape waits for each thread, in ms. */
  timeoutMs: number;
}

/** What one thread gave for a scrape: its metrics, and whether they are this scrape's answer (else its last one). */
export interface ThreadPart {
  thread: ThreadName;
  metrics: ThreadMetricsJson | null;
  fresh: boolean;
}

export const DEFAULT_THREAD_METRICS_TIMEOUT_MS = 250;

export class ThreadMetricsCollector {
  private nextId = 1;
  private readonly pending = new Map<number, { thread: ThreadName; resolve(metrics: ThreadMetricsJson | null): void }>();
  private readonly last = new Map<ThreadName, ThreadMetricsJson>();

  constructor(private readonly o: ThreadMetricsCollectorOptions) {}

  /** Asks every thread at once; resolves within about `timeoutMs`, whatever they do. */
  async collect(): Promise<ThreadPart[]> {
    return Promise.all(this.o.threads.map((thread) => this.ask(thread)));
  }

  /** The other threads' metrics in Prometheus' text format (empty when there are none). */
  async render(): Promise<string> {
    return renderThreadMetrics(await this.collect());
  }

  private ask(thread: ThreadName): Promise<ThreadPart> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // Left pending: a late answer still refreshes `last` for the next scrape.
        const entry = this.pending.get(id);
        if (entry) entry.resolve = () => undefined;
        setTimeout(() => this.pending.delete(id), 30_000).unref();
        resolve(this.stale(thread));
      }, this.o.timeoutMs);
      this.pending.set(id, {
        thread,
        resolve: (metrics) => {
          clearTimeout(timer);
          resolve(metrics ? { thread, metrics, fresh: true } : this.stale(thread));
        },
      });
      this.o.send(thread, { type: 'metrics.request', id });
    });
  }

  private stale(thread: ThreadName): ThreadPart {
    return { thread, metrics: this.last.get(thread) ?? null, fresh: false };
  }

  /** Feed every message delivered to the thread; true if it was for the collector. */
  handle(message: ThreadMessage): boolean {
    if (message.type === 'metrics.reply') {
      const entry = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (entry) {
        this.last.set(entry.thread, message.metrics);
        entry.resolve(message.metrics);
      }
      return true;
    }
    if (message.type === 'undeliverable' && message.original.type === 'metrics.request') {
      const entry = this.pending.get(message.original.id);
      this.pending.delete(message.original.id);
      entry?.resolve(null);
      return true;
    }
    return false;
  }
}

/**
 * The threads' metrics as one text exposition, with
 * `bicycle_thread_metrics_fresh{thread}` for each thread asked. Metrics of
 * the same name from several threads are summed (prom-client's aggregation);
 * Bicycle's threads keep distinct names, so in practice they are listed side
 * by side. Pure but for prom-client.
 */
export async function renderThreadMetrics(parts: readonly ThreadPart[]): Promise<string> {
  const fresh = {
    name: 'bicycle_thread_metrics_fresh',
    help: '1 if the thread answered this scrape in time; 0 if its series are its last answer (or absent): it was busy or restarting.',
    type: 'gauge',
    aggregator: 'sum',
    values: parts.map((p) => ({ labels: { thread: p.thread }, value: p.fresh ? 1 : 0 })),
  };
  const registry: Registry = AggregatorRegistry.aggregate([[fresh], ...parts.flatMap((p) => (p.metrics ? [p.metrics] : []))]);
  return registry.metrics();
}
