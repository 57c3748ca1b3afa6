import type { Message, NodeId } from '../../daemon/voting/raft';
import type { Rng } from './prng';

/** How unreliable the simulated network is. */
export interface NetworkFaults {
  /** Probability a message is lost. */
  drop: number;
  /** Probability a message is delivered twice. */
  duplicate: number;
  /** Each copy is delayed by 0..maxDelayTicks ticks, which also reorders messages. */
  maxDelayTicks: number;
}

export const reliable: NetworkFaults = { drop: 0, duplicate: 0, maxDelayTicks: 0 };

/**
 * An in-memory network between simulated nodes: it delays, reorders,
 * duplicates and drops messages, and cuts directed links (so partitions can
 * be asymmetric). Messages due in the same tick are delivered in random order.
 */
export class SimNetwork {
  faults: NetworkFaults = reliable;
  /** Directed links "from>to" that lose every message. */
  private readonly cut = new Set<string>();
  private readonly queue = new Map<number, Message[]>();
  sent = 0;
  delivered = 0;

  constructor(private readonly rng: Rng) {}

  send(m: Message, now: number): void {
    this.sent += 1;
    if (this.isCut(m.from, m.to) || this.rng.chance(this.faults.drop)) return;
    const copies = this.rng.chance(this.faults.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = now + (this.faults.maxDelayTicks > 0 ? this.rng.int(this.faults.maxDelayTicks + 1) : 0);
      let bucket = this.queue.get(at);
      if (bucket === undefined) this.queue.set(at, (bucket = []));
      bucket.push(m);
    }
  }

  /** The messages due at `now`, shuffled; messages sent meanwhile for `now` come in later calls. */
  take(now: number): Message[] {
    const bucket = this.queue.get(now);
    if (bucket === undefined || bucket.length === 0) return [];
    this.queue.delete(now);
    const due = this.rng.shuffle(bucket).filter((m) => !this.isCut(m.from, m.to));
    this.delivered += due.length;
    return due;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.size > 0 && this.cut.has(`${from}>${to}`);
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  /** Split the nodes into groups that cannot reach each other. */
  partition(groups: NodeId[][]): void {
    this.cut.clear();
    for (const g of groups) {
      for (const h of groups) {
        if (g === h) continue;
        for (const a of g) for (const b of h) this.cutLink(a, b);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Drop everything still in flight (used when measuring from a clean state). */
  clear(): void {
    this.queue.clear();
  }
}
