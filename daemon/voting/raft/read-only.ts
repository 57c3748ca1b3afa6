import { quorumOf } from './progress';
import type { NodeId, ReadState } from './types';

interface PendingRead {
  readonly requestId: string;
  /** The leader's commit index when the read arrived. */
  readonly index: number;
  readonly acks: Set<NodeId>;
}

/**
 * The leader's queue of read-index requests (Raft thesis §6.4). A read is
 * recorded with the commit index at arrival; a heartbeat round carrying its
 * id confirms the leader still leads; once a quorum of voters answered that
 * round, the read and every read queued before it are ready.
 */
export class ReadOnlyQueue {
  private queue: PendingRead[] = [];
  /** The id of the newest read whose confirming heartbeat has not been sent yet. */
  private unsent: string | null = null;

  add(requestId: string, index: number, self: NodeId, selfVotes: boolean): void {
    this.queue.push({ requestId, index, acks: new Set(selfVotes ? [self] : []) });
    this.unsent = requestId;
  }

  /** The context to send in the next heartbeat round, if reads await one. */
  takeUnsent(): string | null {
    const context = this.unsent;
    this.unsent = null;
    return context;
  }

  /** The newest read's context, to piggyback on a regular heartbeat. */
  newest(): string {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1]!.requestId : '';
  }

  /**
   * A voter answered the heartbeat round of `context`. Returns the reads that
   * became ready (in order), removing them.
   */
  ack(from: NodeId, context: string, voters: ReadonlySet<NodeId>): ReadState[] {
    const at = this.queue.findIndex((read) => read.requestId === context);
    if (at < 0 || !voters.has(from)) return [];
    const read = this.queue[at]!;
    read.acks.add(from);
    let count = 0;
    for (const id of read.acks) if (voters.has(id)) count += 1;
    if (count < quorumOf(voters.size)) return [];
    const done = this.queue.splice(0, at + 1);
    return done.map((r) => ({ requestId: r.requestId, index: r.index }));
  }

  /** Release every queued read when this leader alone is a quorum. */
  releaseAll(): ReadState[] {
    const done = this.queue.map((r) => ({ requestId: r.requestId, index: r.index }));
    this.queue = [];
    this.unsent = null;
    return done;
  }

  /** Drop every read (leadership lost); returns their ids so the caller can fail them. */
  clear(): string[] {
    const ids = this.queue.map((r) => r.requestId);
    this.queue = [];
    this.unsent = null;
    return ids;
  }
}
