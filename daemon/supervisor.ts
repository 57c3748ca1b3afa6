import { Worker, type ResourceLimits } from 'node:worker_threads';
import { join } from 'node:path';
import type { Logger } from './logger';
import type { MainToWorker, ThreadName, WorkerData, WorkerToMain } from './messages';
import { describeError, toErrorData, type ErrorData } from './errors';
import { readThreadHeap, type HeapAnswer, type HeapQuestion, type ThreadHeap } from './thread-heap';

export interface SupervisorOptions {
  base: Omit<WorkerData, 'thread'>;
  log: Logger;
  /** Called when a thread reports a fault it cannot recover from. */
  onFatal(thread: ThreadName, error: ErrorData): void;
  /** Back-off before restarting a crashed thread: initial and cap, in ms. */
  restartDelayMs?: { initial: number; max: number };
  /** The file a thread runs (default: `threads/<name>.js` beside this module); tests give their own. */
  threadFile?(thread: ThreadName): string;
  /** V8 heap limits of every thread (default THREAD_RESOURCE_LIMITS). */
  resourceLimits?: ResourceLimits;
}

/**
 * The young generation of each thread's heap is at most 12 MiB (two 4 MiB
 * semi-spaces and the new large objects), not V8's 48: a thread that once
 * allocated fast (the voting thread applying a batch of 90,000 commands)
 * otherwise keeps 32 MiB of semi-spaces resident for good, and four threads
 * do. Short-lived garbage is still collected young at this size; the old
 * generation is not limited (a thread that ran out would crash).
 */
export const THREAD_RESOURCE_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 12 };

interface Slot {
  worker?: Worker;
  ready: boolean;
  restarts: number;
  startedAt: number;
  stopped?: () => void;
  /** Set once this run's crash is logged, so the 'error' event does not log it again. */
  crashLogged?: boolean;
  /** Waiting for the thread's answer to a `heap` question. */
  heapWaiters: ((heap: ThreadHeap) => void)[];
}

/**
 * Starts the four threads, routes messages between them by name, restarts a
 * thread that dies (with exponential back-off, reset after a minute of good
 * health) and stops them in order.
 */
export class Supervisor {
  private readonly slots = new Map<ThreadName, Slot>();
  private stopping = false;
  private readonly restartTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: SupervisorOptions) {}

  /** Starts a thread and resolves once it reports ready (or rejects if it dies first). */
  start(thread: ThreadName): Promise<void> {
    const slot: Slot = this.slots.get(thread) ?? { ready: false, restarts: 0, startedAt: 0, heapWaiters: [] };
    this.slots.set(thread, slot);
    return new Promise((resolve, reject) => {
      const data: WorkerData = { ...this.options.base, thread };
      const file = this.options.threadFile?.(thread) ?? join(__dirname, 'threads', `${thread}.js`);
      const worker = new Worker(file, { workerData: data, resourceLimits: this.options.resourceLimits ?? THREAD_RESOURCE_LIMITS });
      slot.worker = worker;
      slot.ready = false;
      slot.startedAt = Date.now();
      slot.crashLogged = false;
      worker.on('message', (message: WorkerToMain | HeapAnswer) => {
        if (message.kind === 'heap') {
          for (const answer of slot.heapWaiters.splice(0)) answer(message.heap);
        } else if (message.kind === 'ready') {
          slot.ready = true;
          resolve();
        } else if (message.kind === 'stopped') {
          slot.stopped?.();
        } else if (message.kind === 'fatal') {
          this.options.onFatal(thread, message.error);
        } else if (message.kind === 'crashed') {
          this.logCrash(thread, slot, message.error);
        } else if (message.kind === 'send') {
          this.route(thread, message.to, message.body);
        }
      });
      // Only when the thread's own crash report did not come first (it fails before the runtime is loaded).
      worker.on('error', (error: unknown) => this.logCrash(thread, slot, toErrorData(error)));
      worker.on('exit', (code) => {
        const wasReady = slot.ready;
        slot.ready = false;
        slot.worker = undefined;
        slot.stopped?.();
        if (!wasReady) reject(new Error(`the ${thread} thread exited (code ${code}) before it was ready`));
        if (!this.stopping) this.restartLater(thread, slot, code);
      });
    });
  }

  /** `thread crashed crashed=voting error="SqliteError: database is locked"`, and the stack at debug. */
  private logCrash(thread: ThreadName, slot: Slot, error: ErrorData): void {
    if (slot.crashLogged) return;
    slot.crashLogged = true;
    this.options.log.error('thread crashed', { crashed: thread, error: describeError(error) });
    if (error.stack) this.options.log.debug('crashed thread stack', { crashed: thread, stack: error.stack });
  }

  private restartLater(thread: ThreadName, slot: Slot, code: number): void {
    const { initial, max } = this.options.restartDelayMs ?? { initial: 500, max: 30_000 };
    if (Date.now() - slot.startedAt > 60_000) slot.restarts = 0;
    const delayMs = Math.min(max, initial * 2 ** slot.restarts);
    slot.restarts++;
    this.options.log.warn('restarting thread', { restarting: thread, exitCode: code, delayMs, restarts: slot.restarts });
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.stopping) return;
      this.start(thread).catch((error: Error) => this.options.log.error('thread restart failed', { thread, error: error.message }));
    }, delayMs);
    this.restartTimers.add(timer);
  }

  private route(from: ThreadName, to: ThreadName, body: import('./messages').ThreadMessage): void {
    const target = this.slots.get(to);
    if (target?.worker && target.ready) {
      target.worker.postMessage({ kind: 'deliver', from, body } satisfies MainToWorker);
      return;
    }
    if (body.type === 'undeliverable') return;
    const sender = this.slots.get(from)?.worker;
    sender?.postMessage({ kind: 'deliver', from: to, body: { type: 'undeliverable', to, original: body } } satisfies MainToWorker);
  }

  /**
   * Every ready thread's heap as it reports it, and main's own; a thread that
   * does not answer within `timeoutMs` (busy, restarting) is left out.
   */
  async heaps(timeoutMs = 2000): Promise<Map<ThreadName | 'main', ThreadHeap>> {
    const heaps = new Map<ThreadName | 'main', ThreadHeap>([['main', readThreadHeap()]]);
    await Promise.all(
      [...this.slots].map(([thread, slot]) => {
        const worker = slot.worker;
        if (!worker || !slot.ready) return undefined;
        return new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          slot.heapWaiters.push((heap) => {
            clearTimeout(timer);
            heaps.set(thread, heap);
            resolve();
          });
          worker.postMessage({ kind: 'heap' } satisfies HeapQuestion);
        });
      }),
    );
    return heaps;
  }

  /** Logs every thread's heap (`thread heap of=voting usedBytes=…`) and the process's resident memory: SIGUSR2. */
  async logHeaps(): Promise<void> {
    const heaps = await this.heaps();
    for (const [thread, heap] of heaps) this.options.log.info('thread heap', { of: thread, ...heap });
    this.options.log.info('process memory', { rssBytes: process.memoryUsage.rss() });
  }

  /** Stops the threads one by one in the given order, each within `timeoutMs`. */
  async stop(order: readonly ThreadName[], timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    for (const thread of order) {
      const slot = this.slots.get(thread);
      const worker = slot?.worker;
      if (!slot || !worker) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.options.log.warn('thread did not stop in time; terminating it', { thread, timeoutMs });
          void worker.terminate().then(() => resolve());
        }, timeoutMs);
        slot.stopped = () => {
          clearTimeout(timer);
          resolve();
        };
        worker.postMessage({ kind: 'stop' } satisfies MainToWorker);
      });
      await new Promise<void>((resolve) => {
        if (!slot.worker) return resolve();
        slot.worker.once('exit', () => resolve());
        setTimeout(() => void slot.worker?.terminate(), 2000).unref();
      });
    }
  }
}
