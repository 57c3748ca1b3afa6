/**
 * When a worker thread should collect its heap itself, after a burst.
 *
 * V8 collects the old generation when it reaches an allocation limit that
 * starts high, and in a worker thread it never collects for being idle:
 * a burst (a pruning pass of 90,000 `task.remove`, applied as one batch)
 * leaves tens of MiB of garbage resident for as long as the thread is then
 * quiet, which is most of a large cluster's life. So each thread looks
 * every few seconds and collects when it was mostly idle meanwhile and its
 * heap holds much more than it held live after its last collection. A busy
 * thread is left alone: V8 collects it as it allocates, and a full pause
 * would only slow it.
 */
export interface HeapReturnPolicy {
  /** How often to look, in ms. */
  checkIntervalMs: number;
  /** Collect only if the thread's event loop was busy less than this share of the last interval (0-1). */
  idleBelow: number;
  /** Collect only if the heap in use exceeds what was live after the last collection by this much, in bytes. */
  growthBytes: number;
}

export const HEAP_RETURN_POLICY: HeapReturnPolicy = { checkIntervalMs: 2000, idleBelow: 0.2, growthBytes: 16 * 2 ** 20 };

/** Pure: collect now? `usedBytes` is the heap in use, `liveBytes` what remained after the last collection, `busy` the event loop's share of the last interval. */
export function shouldCollect(policy: HeapReturnPolicy, usedBytes: number, liveBytes: number, busy: number): boolean {
  return busy < policy.idleBelow && usedBytes - liveBytes > policy.growthBytes;
}
