import { getHeapStatistics } from 'node:v8';

/**
 * One JavaScript context's V8 heap, as a thread reports it to main (on
 * SIGUSR2 main logs every thread's, see docs/daemon.md; bench:footprint
 * reads them). Plain data: it crosses the thread boundary.
 */
export interface ThreadHeap {
  /** Objects on the heap, live ones and garbage not collected yet. */
  usedBytes: number;
  /** The heap's resident pages (V8's total_physical_size): what the heap costs the process's RSS. */
  residentBytes: number;
  /** Memory outside the heap that its objects hold (Buffers, ArrayBuffers). */
  externalBytes: number;
}

/** This context's heap now. */
export function readThreadHeap(): ThreadHeap {
  const s = getHeapStatistics();
  return { usedBytes: s.used_heap_size, residentBytes: s.total_physical_size, externalBytes: s.external_memory };
}

/**
 * Main asks a worker for its heap, and the worker answers, beside the
 * supervision messages of messages.ts (MainToWorker, WorkerToMain): only the
 * supervisor and the thread runtime speak them.
 */
export interface HeapQuestion {
  kind: 'heap';
}

export interface HeapAnswer {
  kind: 'heap';
  heap: ThreadHeap;
}
