import { BicycleError } from '../../daemon/errors';
import type { VotingReply, VotingRequest } from '../../daemon/cluster-protocol';
import type { Transport } from '../../daemon/voting/http-transport';
import type { TransportEvents } from '../../daemon/voting/cluster-node';
import type { askPeer } from '../../daemon/voting/peer-client';
import type { Message, NodeId } from '../../daemon/voting/raft/index';
import { Rng } from '../sim/prng';

/** What the network delivers to: one node's voting thread, as its REST listener would hand it over. */
export interface MemoryEndpoint {
  /** Raft batches from a peer (ClusterNode.receive). */
  receive(messages: Message[], fromAddress: string | null): void;
  /** A request forwarded by a peer (the voting route: propose, read, ...), answered as the voting thread answers it. */
  answer(request: VotingRequest): Promise<VotingReply>;
}

export interface MemoryNetworkOptions {
  /** Seeds the draws that decide which messages the loss rate drops (default 1): one seed replays one run's losses. */
  seed?: number;
}

/** Raft messages on one link: delivered, lost (cut, loss, a stopped node), and of those delivered how many were snapshots. */
export interface Traffic {
  delivered: number;
  dropped: number;
  snapshots: number;
}

interface Member {
  address: string;
  endpoint: MemoryEndpoint;
  /** Its transport was closed (the node stopped): nothing reaches it or leaves it any more. */
  closed: boolean;
}

/**
 * A network of ClusterNodes inside one process, no sockets: Raft batches go
 * through MemoryTransport and forwarded requests through `ask`, each as a
 * JSON copy (as over the wire, so no object is shared between nodes),
 * delivered on a later turn of the event loop (never inside the sender's
 * Ready handling). The test controls the links: `cut` one way, `partition`
 * both ways, `heal`, a loss rate and a delay.
 *
 * A message is checked against the links when it is sent and again when it
 * arrives, so a cut made while it is in flight loses it. A batch to a cut
 * link is reported unreachable to the sender's core, as HttpTransport
 * reports a failed POST; a forward over a cut link fails as askPeer's does
 * on a dead link, after its timeout, with UNAVAILABLE.
 */
export class MemoryNetwork {
  private readonly members = new Map<NodeId, Member>();
  private readonly byAddress = new Map<string, NodeId>();
  /** Links cut one way, as `from>to`. */
  private readonly cuts = new Set<string>();
  private lossRate = 0;
  private delayMs: (from: NodeId, to: NodeId) => number = () => 0;
  private readonly rng: Rng;
  private readonly counts = new Map<string, Traffic>();

  constructor(options: MemoryNetworkOptions = {}) {
    this.rng = new Rng(options.seed ?? 1);
  }

  /** Adds a node reachable at `address` (what its peers' rows and `fromAddress` name). */
  add(id: NodeId, address: string, endpoint: MemoryEndpoint): void {
    this.members.set(id, { address, endpoint, closed: false });
    this.byAddress.set(address, id);
  }

  /** The `transport` option of `id`'s ClusterNode. */
  transport(id: NodeId): (events: TransportEvents) => Transport {
    return (events) => new MemoryTransport(this, id, events);
  }

  /** The `askLeader` option of `id`'s ClusterNode: forwarded requests over this network. */
  ask(id: NodeId): typeof askPeer {
    return (_http, address, _secret, request, timeoutMs, options = {}) => this.forward(id, address, request, timeoutMs, options.peerName);
  }

  // ---- the test's controls ------------------------------------------------------

  /** Loses everything `from` sends to `to` (one way: `to` still reaches `from`). */
  cut(from: NodeId, to: NodeId): void {
    this.cuts.add(link(from, to));
  }

  /** Cuts every link, both ways, between nodes of different groups. */
  partition(...groups: readonly (readonly NodeId[])[]): void {
    for (const [i, a] of groups.entries()) {
      for (const b of groups.slice(i + 1)) {
        for (const x of a) {
          for (const y of b) {
            this.cut(x, y);
            this.cut(y, x);
          }
        }
      }
    }
  }

  /** Cuts `id` off from every other node, both ways. */
  isolate(id: NodeId): void {
    this.partition([id], [...this.members.keys()].filter((other) => other !== id));
  }

  /** Restores every link (the loss rate and the delay stay as set). */
  heal(): void {
    this.cuts.clear();
  }

  /**
   * Loses each Raft batch with probability `rate`, drawn from the network's
   * random, as a failed POST would. A forwarded request rides a connection:
   * a cut link loses it (or its answer), the loss rate does not.
   */
  setLoss(rate: number): void {
    this.lossRate = rate;
  }

  /** How long a message takes from `from` to `to`; a fixed delay per link keeps each link in order. */
  setDelay(delayMs: number | ((from: NodeId, to: NodeId) => number)): void {
    this.delayMs = typeof delayMs === 'number' ? () => delayMs : delayMs;
  }

  /** What crossed the link `from` → `to` so far (Raft messages, not forwarded requests). */
  traffic(from: NodeId, to: NodeId): Traffic {
    return { ...this.countsOf(from, to) };
  }

  // ---- delivery -------------------------------------------------------------------

  /** Can a Raft batch from `from` reach `to` now (both up, link not cut, not lost)? */
  private passes(from: NodeId, to: NodeId): boolean {
    const a = this.members.get(from);
    const b = this.members.get(to);
    if (!a || !b || a.closed || b.closed || this.cuts.has(link(from, to))) return false;
    return this.lossRate === 0 || this.rng.next() >= this.lossRate;
  }

  /**
   * @internal MemoryTransport's send. False when the batch is lost at once
   * (the sender hears it as unreachable); else `settled` hears later whether
   * it arrived (true, after the receiver stepped it) or was lost in flight.
   */
  deliver(from: NodeId, to: NodeId, messages: readonly Message[], settled: (arrived: boolean) => void): boolean {
    const counts = this.countsOf(from, to);
    if (!this.passes(from, to)) {
      counts.dropped += messages.length;
      return false;
    }
    const wire = JSON.stringify(messages);
    const fromAddress = this.members.get(from)!.address;
    setTimeout(() => {
      const target = this.members.get(to)!;
      if (target.closed || this.cuts.has(link(from, to))) {
        counts.dropped += messages.length;
        settled(false);
        return;
      }
      counts.delivered += messages.length;
      counts.snapshots += messages.filter((m) => m.type === 'snapshot').length;
      target.endpoint.receive(JSON.parse(wire) as Message[], fromAddress);
      settled(true);
    }, this.delayMs(from, to));
    return true;
  }

  /** @internal */
  close(id: NodeId): void {
    const member = this.members.get(id);
    if (member) member.closed = true;
  }

  /** A forwarded request and its answer, each over its own direction of the link; no answer within `timeoutMs` fails as askPeer does. */
  private forward(from: NodeId, address: string, request: VotingRequest, timeoutMs: number, peerName: string | undefined): Promise<VotingReply> {
    const leader = peerName ? `the leader ${peerName} at ${address}` : `the leader at ${address}`;
    const to = this.byAddress.get(address);
    if (to === undefined || this.members.get(to)!.closed) {
      return Promise.reject(new BicycleError('UNAVAILABLE', `cannot reach ${leader}: connection refused`));
    }
    return new Promise<VotingReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BicycleError('UNAVAILABLE', `cannot reach ${leader}: no answer within ${timeoutMs} ms`)), timeoutMs);
      if (this.cuts.has(link(from, to))) return;
      // As the voting route does: what comes from a peer is marked forwarded (a membership change carries no such flag).
      const wire = JSON.stringify(request.kind === 'membership' ? request : { ...request, forwarded: true });
      setTimeout(() => {
        // Lost in flight, or the node stopped meanwhile: no answer comes.
        if (this.members.get(to)!.closed || this.cuts.has(link(from, to))) return;
        const answered = this.members.get(to)!.endpoint.answer(JSON.parse(wire) as VotingRequest);
        // The route answers a thrown error as an error body, which askPeer throws again with its code.
        void answered.then((reply) => ({ reply }), (error: unknown) => ({ error })).then((outcome) => {
          if (this.cuts.has(link(to, from))) return;
          const answer = 'reply' in outcome ? JSON.stringify(outcome.reply) : undefined;
          setTimeout(() => {
            clearTimeout(timer);
            if (answer === undefined) reject((outcome as { error: unknown }).error);
            else resolve(JSON.parse(answer) as VotingReply);
          }, this.delayMs(to, from));
        });
      }, this.delayMs(from, to));
    });
  }

  private countsOf(from: NodeId, to: NodeId): Traffic {
    let counts = this.counts.get(link(from, to));
    if (!counts) this.counts.set(link(from, to), (counts = { delivered: 0, dropped: 0, snapshots: 0 }));
    return counts;
  }
}

/**
 * One node's Raft transport over a MemoryNetwork. Like HttpTransport it
 * never blocks and never throws: a batch to a cut link is lost and the core
 * hears the peer is unreachable (on a later turn, never inside `send`); a
 * snapshot is reported delivered once the receiver has stepped it.
 */
export class MemoryTransport implements Transport {
  private closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    private readonly self: NodeId,
    private readonly events: TransportEvents,
  ) {}

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    const batches = new Map<NodeId, Message[]>();
    for (const m of messages) {
      if (m.type === 'snapshot') {
        this.sendSnapshot(m);
        continue;
      }
      const batch = batches.get(m.to);
      if (batch) batch.push(m);
      else batches.set(m.to, [m]);
    }
    for (const [to, batch] of batches) {
      if (!this.network.deliver(this.self, to, batch, () => undefined)) this.later(() => this.events.onUnreachable(to));
    }
  }

  /** As HttpTransport's: the core hears how it went once it is installed there (ok) or lost (unreachable, not ok). */
  private sendSnapshot(m: Message): void {
    const report = (ok: boolean) => {
      if (!ok) this.events.onUnreachable(m.to);
      this.events.onSnapshotSent(m.to, ok);
    };
    const sent = this.network.deliver(this.self, m.to, [m], (arrived) => this.later(() => report(arrived)));
    if (!sent) this.later(() => report(false));
  }

  private later(report: () => void): void {
    setTimeout(() => {
      if (!this.closed) report();
    }, 0);
  }

  close(): void {
    this.closed = true;
    this.network.close(this.self);
  }
}

function link(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}
