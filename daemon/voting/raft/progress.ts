/**
 * What a leader knows of each follower's log, and the flow control of its
 * replication (as in etcd-io/raft):
 * - `probe`: the follower's match is unknown; send one append at a time and
 *   wait for its answer (or the next heartbeat answer) before sending more;
 * - `replicate`: the follower is known to match; stream appends optimistically,
 *   at most `maxInflight` unacknowledged messages;
 * - `snapshot`: the follower needs a snapshot; send nothing until it answers
 *   (or the snapshot is deemed lost after a timeout).
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: an append is out and unanswered. */
  probeSent = false;
  /** In snapshot: the index of the snapshot sent, and ticks since it was sent. */
  pendingSnapshot = 0;
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Last indexes of the appends in flight (replicate state), oldest first. */
  private inflight: number[] = [];

  constructor(next: number, private readonly maxInflight: number) {
    this.next = next;
  }

  becomeProbe(): void {
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.state = 'probe';
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflight = [];
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflight = [];
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotTicks = 0;
    this.inflight = [];
  }

  /** The follower acknowledged up to `index`; false if that is old news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; its log can only match at
   * or below `matchHint`. Returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.state === 'snapshot' || this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** An append carrying entries up to `last` was sent. */
  sentEntries(last: number): void {
    if (this.state === 'replicate') {
      this.next = last + 1;
      this.inflight.push(last);
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** Acknowledgement up to `index` frees the appends it covers. */
  freeInflightTo(index: number): void {
    let n = 0;
    while (n < this.inflight.length && this.inflight[n]! <= index) n += 1;
    if (n > 0) this.inflight.splice(0, n);
  }

  /** A heartbeat answer arrived: unblock a probe, and free one slot in case an append was lost. */
  heard(): void {
    this.recentActive = true;
    this.probeSent = false;
    if (this.state === 'replicate' && this.inflight.length >= this.maxInflight) this.inflight.shift();
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }
}

/** The votes needed to win or commit among `voters` voters. */
export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** The largest index a quorum of voters has matched (0 with no voters). */
export function quorumMatch(matches: number[]): number {
  if (matches.length === 0) return 0;
  const sorted = matches.slice().sort((a, b) => b - a);
  return sorted[quorumOf(sorted.length) - 1]!;
}
