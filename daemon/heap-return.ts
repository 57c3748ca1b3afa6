/**
 * When a worker thread should collect its heap itself.
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
 *
 * Garbage is not all: a thread that allocated fast (its start, loading
 * every module; a burst) keeps the pages it grew, its young generation's
 * semi-spaces above all (7 to 8 MiB in each thread after start, for about
 * 1 MiB of objects), until V8's memory reducer gives them back, and that
 * runs only some seconds after a full collection, when the thread is quiet.
 * A thread that never reaches a full collection (an idle daemon's, after
 * start) keeps them for good. So a quiet thread whose heap holds many more
 * resident pages than objects collects too, which starts the memory
 * reducer; at most once per `slackRetryMs`, so that a heap the reducer
 * cannot shrink further (fragments of the old generation) costs one full
 * collection now and then, not one every check, and so that the reducer,
 * which waits about 8 s after a full collection before its own, gets its
 * turn.
 */
export interface HeapReturnPolicy {
  /** How often to look, in ms. */
  checkIntervalMs: number;
  /** Collect only if the thread's event loop was busy less than this share of the last interval (0-1). */
  idleBelow: number;
  /** Collect if the heap in use exceeds what was live after the last collection by this much, in bytes. */
  growthBytes: number;
  /** Collect if the heap's resident pages exceed the heap in use by this much, in bytes… */
  slackBytes: number;
  /** …and the last collection is at least this old, in ms. */
  slackRetryMs: number;
}

export const HEAP_RETURN_POLICY: HeapReturnPolicy = {
  checkIntervalMs: 2000,
  idleBelow: 0.2,
  growthBytes: 16 * 2 ** 20,
  slackBytes: 6 * 2 ** 20,
  slackRetryMs: 15_000,
};

/** What a thread sees of its heap at a check. */
export interface HeapSample {
  /** The heap in use now. */
  usedBytes: number;
  /** The heap's resident pages now. */
  residentBytes: number;
  /** What was in use right after the last collection (or at the thread's start). */
  liveBytes: number;
  /** Since the last collection (since the start, before the first), in ms. */
  sinceCollectMs: number;
  /** The event loop's busy share of the last interval (0-1). */
  busy: number;
}

/** Pure: collect now? */
export function shouldCollect(policy: HeapReturnPolicy, heap: HeapSample): boolean {
  if (heap.busy >= policy.idleBelow) return false;
  if (heap.usedBytes - heap.liveBytes > policy.growthBytes) return true;
  return heap.residentBytes - heap.usedBytes > policy.slackBytes && heap.sinceCollectMs >= policy.slackRetryMs;
}
