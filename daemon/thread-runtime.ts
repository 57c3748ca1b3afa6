import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { MainToWorker, ThreadMessage, ThreadName, WorkerData, WorkerToMain } from './messages';
import { toErrorData } from './errors';
import { HEAP_RETURN_POLICY, shouldCollect, type HeapReturnPolicy } from './heap-return';
import { readThreadHeap, type HeapAnswer, type HeapQuestion } from './thread-heap';

/**
 * The worker side of thread supervision: tells main when the thread is ready,
 * routes incoming messages to the thread's handler, and runs the thread's
 * stop function when main asks (then reports `stopped`).
 */
export interface ThreadHandlers {
  onMessage?(from: ThreadName, body: ThreadMessage): void;
  /** Finish in-flight work and release resources. */
  stop(): Promise<void>;
}

export function workerContext(): WorkerData {
  return workerData as WorkerData;
}

export function sendTo(to: ThreadName, body: ThreadMessage): void {
  post({ kind: 'send', to, body });
}

function post(message: WorkerToMain | HeapAnswer): void {
  parentPort?.postMessage(message);
}

/**
 * Collects the heap when the thread is quiet after a burst, or holds many
 * more resident pages than objects (heap-return.ts). Needs V8's collector as
 * a global, which main exposes (`--expose-gc`) before it starts the threads;
 * without it (a test's thread) this does nothing. Returns the function that
 * stops it.
 */
function returnHeapAfterBursts(policy: HeapReturnPolicy = HEAP_RETURN_POLICY): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return () => undefined;
  let live = getHeapStatistics().used_heap_size;
  // None yet: the pages the thread's start grew go back at its first quiet check.
  let collectedAt = -Infinity;
  let last = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    const heap = getHeapStatistics();
    const sample = { usedBytes: heap.used_heap_size, residentBytes: heap.total_physical_size, liveBytes: live, sinceCollectMs: performance.now() - collectedAt, busy };
    if (!shouldCollect(policy, sample)) return;
    gc();
    live = getHeapStatistics().used_heap_size;
    collectedAt = performance.now();
  }, policy.checkIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Registers the thread with main. Call once the thread can take messages. */
export function runThread(handlers: ThreadHandlers): void {
  let stopping = false;
  const stopHeapReturn = returnHeapAfterBursts();
  parentPort?.on('message', (message: MainToWorker | HeapQuestion) => {
    if (message.kind === 'heap') {
      post({ kind: 'heap', heap: readThreadHeap() });
    } else if (message.kind === 'deliver') {
      handlers.onMessage?.(message.from, message.body);
    } else if (message.kind === 'stop' && !stopping) {
      stopping = true;
      stopHeapReturn();
      handlers
        .stop()
        .catch(() => undefined)
        .finally(() => {
          post({ kind: 'stopped' });
          // Let the message flush, then leave; lingering handles must not keep a stopped thread alive.
          setTimeout(() => process.exit(0), 50).unref();
        });
    }
  });
  post({ kind: 'ready' });
}

/** Reports a fault this thread cannot recover from; main logs it and shuts the daemon down. */
export function reportFatal(error: unknown): void {
  post({ kind: 'fatal', error: toErrorData(error) });
}

/**
 * An uncaught exception or unhandled rejection ends the thread (main restarts
 * it), but first main hears why: name, message and stack, as data. Left to
 * Node, the worker's 'error' event carries a structured clone of what was
 * thrown, and an error that is not a native Error (better-sqlite3's
 * SqliteError) arrives as `{ code }` alone, without its message.
 */
function reportCrashes(): void {
  let crashed = false;
  const crash = (error: unknown) => {
    if (crashed) return;
    crashed = true;
    post({ kind: 'crashed', error: toErrorData(error) });
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

if (!isMainThread && parentPort) reportCrashes();
