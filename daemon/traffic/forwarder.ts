import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../logger';
import { attemptOrder, type Backend, type PortPlan } from './plan';
import { plainAddress, proxyHeader } from './proxy-protocol';

export interface ForwarderOptions {
  log: Logger;
  /** This node's name, for the reasons a port cannot be held. */
  nodeName: string;
  /** How long a connection attempt to one replica may take before the next is tried, in ms. */
  connectTimeoutMs: number;
  /** The source address for connections to other nodes (this node's advertised address), so they know it is a forward. */
  localAddress?: string;
  /** A source address of another node: the connection was forwarded here. */
  isPeer(address: string): boolean;
  /** A source address of this node itself (loopback, its own addresses): it did not pass the kernel's split. */
  isLocalSource(address: string): boolean;
  random?: () => number;
}

/** How long a connection may wait, in all, for a replica that accepts, before it is reset. */
const RETRY_WINDOW_MS = 3000;
/** The pause before trying the replicas again once all refused. */
const RETRY_PAUSE_MS = 100;

/** One client connection being placed. */
interface Attempt {
  client: Socket;
  port: number;
  from: 'peer' | 'kernel-share' | 'other';
  header: Buffer | null;
  deadline: number;
}

interface Held {
  server: Server;
  plan: PortPlan;
}

/**
 * The Node.js half of the data path. It holds every published port this
 * node serves (a listening socket, so that nothing else can take the port
 * and a taken port is noticed), and takes the connections the kernel did
 * not send straight to a local replica: the remote share, connections that
 * carry a PROXY protocol header, and those made on this node itself. Each
 * goes to a replica chosen by attemptOrder; a replica that refuses or does
 * not answer within connectTimeoutMs is replaced by the next one before any
 * byte reaches the client.
 */
/** What the hop carried for one service since it started: connections placed on a replica, and their bytes each way. */
export interface HopCounts {
  connections: number;
  /** Client → replica (a PROXY protocol header not included). */
  bytesIn: number;
  /** Replica → client. */
  bytesOut: number;
}

export class Forwarder {
  private readonly held = new Map<number, Held>();
  private readonly carried = new Map<string, HopCounts>();
  private readonly opening = new Map<number, Promise<string | null>>();
  private readonly connections = new Set<Socket>();
  private readonly random: () => number;
  private closed = false;

  constructor(private readonly o: ForwarderOptions) {
    this.random = o.random ?? Math.random;
  }

  /** Ports currently held. */
  ports(): number[] {
    return [...this.held.keys()];
  }

  isHeld(port: number): boolean {
    return this.held.has(port);
  }

  /** What the hop carried, by service, since this forwarder started (counters: they only grow). */
  counts(): Map<string, HopCounts> {
    return new Map([...this.carried].map(([service, c]) => [service, { ...c }]));
  }

  private countsOf(service: string): HopCounts {
    let c = this.carried.get(service);
    if (!c) this.carried.set(service, (c = { connections: 0, bytesIn: 0, bytesOut: 0 }));
    return c;
  }

  /**
   * Holds exactly the ports of `plans` (opening the missing ones, closing
   * the others: a closed port takes no new connection, open ones finish),
   * and routes each by its plan. Answers why a port could not be held.
   */
  async hold(plans: readonly PortPlan[]): Promise<Map<number, string>> {
    const wanted = new Map(plans.map((p) => [p.published, p]));
    for (const [port, held] of this.held) {
      if (!wanted.has(port)) {
        held.server.close();
        this.held.delete(port);
      }
    }
    const problems = new Map<number, string>();
    await Promise.all(
      plans.map(async (plan) => {
        const problem = await this.open(plan.published, plan);
        if (problem) problems.set(plan.published, problem);
      }),
    );
    return problems;
  }

  /** Holds one port now (the agent asks before starting a replica that publishes it); answers why not, or null. */
  async open(port: number, plan?: PortPlan): Promise<string | null> {
    const existing = this.held.get(port);
    if (existing) {
      if (plan) existing.plan = plan;
      return null;
    }
    if (this.closed) return 'the traffic manager is stopping';
    let pending = this.opening.get(port);
    if (!pending) {
      pending = this.listen(port, plan ?? emptyPlan(port)).finally(() => this.opening.delete(port));
      this.opening.set(port, pending);
    }
    const problem = await pending;
    if (!problem && plan) this.held.get(port)!.plan = plan;
    return problem;
  }

  private listen(port: number, plan: PortPlan): Promise<string | null> {
    return new Promise((resolve) => {
      const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => this.accept(port, socket));
      const node = this.o.nodeName;
      server.once('error', (error: NodeJS.ErrnoException) => {
        resolve(
          error.code === 'EADDRINUSE'
            ? `published port ${port} is in use on node ${node} by another program`
            : error.code === 'EACCES'
              ? `published port ${port} needs root to be bound on node ${node}`
              : `published port ${port} cannot be bound on node ${node}: ${error.message}`,
        );
      });
      server.listen({ port, host: '0.0.0.0', exclusive: true }, () => {
        server.removeAllListeners('error');
        server.on('error', (error) => this.o.log.warn('published port listener failed', { port, error: error.message }));
        this.held.set(port, { server, plan });
        resolve(null);
      });
    });
  }

  private accept(port: number, client: Socket): void {
    const held = this.held.get(port);
    this.connections.add(client);
    client.once('close', () => this.connections.delete(client));
    client.on('error', () => client.destroy());
    if (!held) return void client.destroy();
    const source = plainAddress(client.remoteAddress ?? '');
    const from = this.o.isPeer(source) ? 'peer' : this.o.isLocalSource(source) ? 'other' : 'kernel-share';
    const plan = held.plan;
    const order = attemptOrder(plan, from, this.random);
    const header =
      plan.proxy !== 'none' && from !== 'peer'
        ? proxyHeader(plan.proxy, {
            sourceAddress: source,
            sourcePort: client.remotePort ?? 0,
            destinationAddress: plainAddress(client.localAddress ?? ''),
            destinationPort: client.localPort ?? port,
          })
        : null;
    // A forwarded connection is refused at once when no local replica takes it: the node that sent it tries the next one.
    this.attempt({ client, port, from, header, deadline: from === 'peer' ? 0 : Date.now() + RETRY_WINDOW_MS }, order, 0, plan);
  }

  private attempt(c: Attempt, order: Backend[], index: number, plan: PortPlan): void {
    const { client, header } = c;
    if (client.destroyed) return;
    const backend = order[index];
    if (!backend) {
      // Every replica refused: one may be about to accept (a new replica starting as the last old one leaves, during an
      // update), so the connection waits a moment and tries the replicas of the current plan again, within the window.
      if (Date.now() < c.deadline && !this.closed) {
        setTimeout(() => {
          const current = this.held.get(c.port)?.plan;
          if (current) this.attempt(c, attemptOrder(current, c.from, this.random), 0, current);
          else client.resetAndDestroy();
        }, RETRY_PAUSE_MS);
        return;
      }
      // Nothing took it: a reset, as from a closed port (the client may retry).
      client.resetAndDestroy();
      return;
    }
    const remote = !plan.local.includes(backend);
    const upstream = createConnection({
      host: backend.host,
      port: backend.port,
      allowHalfOpen: true,
      ...(remote && this.o.localAddress ? { localAddress: this.o.localAddress } : {}),
    });
    const timer = setTimeout(() => upstream.destroy(new Error('connect timed out')), this.o.connectTimeoutMs);
    const failed = () => {
      clearTimeout(timer);
      upstream.destroy();
      this.attempt(c, order, index + 1, plan);
    };
    upstream.once('error', failed);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.removeListener('error', failed);
      this.connections.add(upstream);
      upstream.once('close', () => this.connections.delete(upstream));
      upstream.on('error', () => {
        upstream.destroy();
        client.destroy();
      });
      // A clean end travels through the pipes (half-close included); only a broken side cuts the other.
      client.on('close', (hadError) => hadError && upstream.destroy());
      upstream.on('close', (hadError) => hadError && client.destroy());
      if (header) upstream.write(header);
      client.pipe(upstream);
      upstream.pipe(client);
      // Counted as the bytes pass (after the pipes, so these listeners do not start the flow early), not at the close:
      // a long connection's bytes show while it lasts.
      if (plan.service) {
        const counts = this.countsOf(plan.service);
        counts.connections += 1;
        client.on('data', (chunk: Buffer) => (counts.bytesIn += chunk.length));
        upstream.on('data', (chunk: Buffer) => (counts.bytesOut += chunk.length));
      }
      client.resume();
    });
  }

  /** Stops accepting on every port; connections under way are cut. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.opening.values());
    for (const held of this.held.values()) held.server.close();
    this.held.clear();
    for (const socket of this.connections) socket.destroy();
  }
}

function emptyPlan(port: number): PortPlan {
  return { published: port, service: '', target: port, mode: 'ingress', proxy: 'none', local: [], remote: [], kernel: true };
}
