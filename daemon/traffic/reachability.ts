import { createConnection } from 'node:net';
import { hostOf } from './plan';

/** One TCP connection attempt: resolves true once `host:port` accepts, false on refusal, error or timeout. */
export function tcpAccepts(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface PeerWatchOptions {
  intervalMs: number;
  /** Consecutive failed probes after which a peer counts as unreachable. */
  failures: number;
  /** Called when a peer becomes unreachable or reachable again. */
  onChange(): void;
  probe?: (host: string, port: number, timeoutMs: number) => Promise<boolean>;
}

/**
 * Watches that the peers this node forwards to still answer: a TCP
 * connection to each one's node-to-node address every intervalMs. A peer
 * that misses `failures` probes in a row is unreachable from here until it
 * answers again. This is faster than the cluster's host-loss grace (a
 * second, not three) and local: it also sees a partition between two
 * followers that the leader does not.
 */
export class PeerWatch {
  private peers = new Map<string, string>();
  private readonly misses = new Map<string, number>();
  private readonly down = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private probing = false;

  constructor(private readonly o: PeerWatchOptions) {
    this.timer = setInterval(() => void this.round(), o.intervalMs);
    this.timer.unref();
  }

  /** The peers to watch (node id → its advertised host:port); others are forgotten. */
  watch(peers: ReadonlyArray<{ nodeId: string; address: string }>): void {
    this.peers = new Map(peers.map((p) => [p.nodeId, p.address]));
    for (const id of [...this.misses.keys()]) if (!this.peers.has(id)) this.misses.delete(id);
    for (const id of [...this.down]) if (!this.peers.has(id)) this.down.delete(id);
  }

  unreachable(): ReadonlySet<string> {
    return this.down;
  }

  private async round(): Promise<void> {
    if (this.probing || this.peers.size === 0) return;
    this.probing = true;
    const probe = this.o.probe ?? tcpAccepts;
    let changed = false;
    try {
      await Promise.all(
        [...this.peers].map(async ([id, address]) => {
          const port = Number(address.slice(address.lastIndexOf(':') + 1));
          const ok = await probe(hostOf(address), port, this.o.intervalMs);
          if (!this.peers.has(id)) return;
          if (ok) {
            this.misses.delete(id);
            if (this.down.delete(id)) changed = true;
            return;
          }
          const misses = (this.misses.get(id) ?? 0) + 1;
          this.misses.set(id, misses);
          if (misses >= this.o.failures && !this.down.has(id)) {
            this.down.add(id);
            changed = true;
          }
        }),
      );
    } finally {
      this.probing = false;
    }
    if (changed) this.o.onChange();
  }

  close(): void {
    clearInterval(this.timer);
  }
}
