import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { Db } from '../../database/open-database';
import { getMeta, listNodes, listServices, type ServiceRecord } from '../../database/queries';
import { listRoutableTasks } from '../../database/task-summary';
import { isServiceDeleting } from '../../database/service-state';
import type { DaemonConfig } from '../config';
import { LABELS } from '../docker-client';
import type { Logger } from '../logger';
import { errorMessage } from '../logger';
import type { BridgeNetwork, ContainerRuntime, ContainerSpec } from '../deployment/container-runtime';
import { DnsServer } from './dns-server';
import { SERVICE_DOMAIN } from './dns-answer';
import { Forwarder } from './forwarder';
import type { PacketRules } from './iptables';
import type { KernelCounts } from './rules';
import { hostOf, planTraffic, type TrafficPlan } from './plan';
import { PeerWatch, tcpAccepts } from './reachability';
import { renderRules } from './rules';
import { plainAddress } from './proxy-protocol';
import type { TrafficCounts } from '../metrics/thread-metrics';

export interface TrafficManagerOptions {
  db: Db;
  runtime: ContainerRuntime;
  nodeId: string;
  nodeName: string;
  /** This node's advertised host:port: its host is the source of the connections it forwards. */
  advertise: string;
  log: Logger;
  config: DaemonConfig['traffic'];
  /** The kernel's rules for this node; null when the kernel path is off. */
  packetRules: PacketRules | null;
  /** The owner comment on this daemon's jumps. */
  owner: string;
  /** The chain name prefix of this node. */
  chainPrefix: string;
  /** Asks for another pass soon (a probe answered, a peer changed). */
  wake(): void;
  now?: () => number;
}

/** How often the rules are written again even when nothing changed, to repair what something else flushed. */
const REAPPLY_MS = 10_000;
/** How long one readiness probe of a local replica may take. */
const PROBE_TIMEOUT_MS = 500;
/** Passes come this often while a local replica is still being probed. */
const PROBE_RETRY_MS = 150;
/** A scrape reuses the kernel's counts read less than this long ago, in ms. */
const KERNEL_COUNTS_MAX_AGE_MS = 1000;
/** After the kernel's rules could not be written, the hop carries everything for this long before the next try. */
const KERNEL_RETRY_MS = 30_000;

/**
 * The traffic manager's shell on every node: each pass reads the rows and
 * this node's containers, asks planTraffic what the node should serve,
 * holds those ports (Forwarder), installs the kernel rules for them
 * (PacketRules, when the rendered set changed or every few seconds),
 * probes new local replicas until they accept, and watches the peers it
 * forwards to. It also answers service names for the containers (DnsServer).
 * Level-triggered, like the agent: a pass converges whatever the note was.
 */
/** How often a resolver that could not bind port 53 tries again. */
const DNS_RETRY_MS = 2_000;

export class TrafficManager {
  private readonly forwarder: Forwarder;
  private readonly peers: PeerWatch;
  private readonly dns: DnsServer;
  private readonly ready = new Set<string>();
  private readonly probing = new Set<string>();
  private peerAddresses = new Set<string>();
  private localAddresses = new Set<string>();
  private serviceNames = new Set<string>();
  private bridge: BridgeNetwork | null = null;
  /** Why the resolver could not bind (another resolver, or a daemon still stopping, holds the port), and when to try again. */
  private dnsProblem: string | null = null;
  private dnsRetryAt = 0;
  private lastRules = '';
  private lastAppliedAt = 0;
  private kernel: boolean;
  private kernelRetryAt = 0;
  private kernelWarned = false;
  private lastProblems = '';
  private stopped = false;
  private countersWarned = false;
  private kernelRead: { at: number; counts: Promise<KernelCounts[]> } | undefined;

  constructor(private readonly o: TrafficManagerOptions) {
    this.kernel = o.packetRules !== null;
    const advertised = hostOf(o.advertise);
    this.forwarder = new Forwarder({
      log: o.log,
      nodeName: o.nodeName,
      connectTimeoutMs: o.config.connectTimeoutMs,
      localAddress: isIP(advertised) && !/^(0\.0\.0\.0|::|127\.)/.test(advertised) ? advertised : undefined,
      isPeer: (address) => this.peerAddresses.has(address),
      isLocalSource: (address) => this.localAddresses.has(address) || address.startsWith('127.'),
    });
    this.peers = new PeerWatch({ intervalMs: o.config.peerProbeIntervalMs, failures: 2, onChange: () => o.wake() });
    this.dns = new DnsServer({ log: o.log, serviceNames: () => this.serviceNames });
  }

  /** The resolver settings for a new container: this node's resolver when it answers service names. */
  dnsConfig(): ContainerSpec['dns'] {
    const address = this.dns.address;
    return address ? { servers: [address], search: [SERVICE_DOMAIN] } : undefined;
  }

  /** Why this node cannot serve the service's published ports (one is taken by another program), or null. Holds them if it can. */
  async portProblem(service: ServiceRecord): Promise<string | null> {
    for (const port of service.ports) {
      const problem = await this.forwarder.open(port.published);
      if (problem) return problem;
    }
    return null;
  }

  async pass(): Promise<number | undefined> {
    if (this.stopped) return undefined;
    const cluster = getMeta(this.o.db, 'cluster_id');
    if (!cluster) return undefined;
    const now = (this.o.now ?? Date.now)();
    await this.ensureBridgeAndResolver(now);
    const services = listServices(this.o.db);
    const tasks = listRoutableTasks(this.o.db);
    const nodes = listNodes(this.o.db);
    const containers = await this.o.runtime.list({ [LABELS.cluster]: cluster, [LABELS.node]: this.o.nodeId });
    const localContainers = new Map<string, { containerId: string; ip: string }>();
    for (const c of containers) if (c.taskId && c.state === 'running' && c.ip) localContainers.set(c.taskId, { containerId: c.id, ip: c.ip });
    const live = new Set([...localContainers.values()].map((c) => c.containerId));
    for (const key of this.ready) if (!live.has(key.slice(0, key.lastIndexOf(':')))) this.ready.delete(key);

    const plan = planTraffic({
      selfId: this.o.nodeId,
      services,
      tasks,
      nodes,
      localContainers,
      ready: this.ready,
      unreachable: this.peers.unreachable(),
    });
    if (!this.kernel && this.o.packetRules && now >= this.kernelRetryAt) this.kernel = true;
    if (!this.kernel) for (const port of plan.ports) port.kernel = false;
    this.serviceNames = new Set(services.filter((s) => !isServiceDeleting(s.state) && s.ports.length > 0).map((s) => s.name));
    this.peerAddresses = new Set(plan.peerAddresses);
    this.localAddresses = localAddresses();
    this.peers.watch(plan.watchedPeers);

    const problems = await this.forwarder.hold(plan.ports);
    this.reportProblems(problems);
    // A port another program holds gets no rule: the kernel must not take that program's connections.
    const served: TrafficPlan = { ...plan, ports: plan.ports.filter((p) => !problems.has(p.published)) };
    await this.applyRules(served, now);
    this.probe(plan.probes);
    const wakes = [plan.probes.length > 0 ? now + PROBE_RETRY_MS : Infinity, this.dnsProblem !== null ? this.dnsRetryAt : Infinity];
    const wake = Math.min(...wakes);
    return wake === Infinity ? undefined : wake;
  }

  private async ensureBridgeAndResolver(now: number): Promise<void> {
    if (!this.bridge) {
      try {
        this.bridge = await this.o.runtime.bridge();
      } catch (error) {
        this.o.log.debug('cannot read the engine\'s bridge network yet', { error: errorMessage(error) });
      }
    }
    if (this.bridge && this.o.config.dns && !this.dns.address && now >= this.dnsRetryAt) {
      // Tried again every DNS_RETRY_MS while it fails: the port may be held only for a moment (a daemon still stopping).
      const problem = await this.dns.start(this.bridge.gateway);
      if (problem && problem !== this.dnsProblem) this.o.log.warn('containers will not resolve service names on this node until the port is free', { reason: problem });
      if (!problem) this.o.log.info('answering service names for containers', { address: `${this.bridge.gateway}:53`, domain: SERVICE_DOMAIN });
      this.dnsProblem = problem;
      this.dnsRetryAt = problem ? now + DNS_RETRY_MS : 0;
    }
  }

  private reportProblems(problems: Map<number, string>): void {
    const text = [...problems.values()].join('; ');
    if (text && text !== this.lastProblems) this.o.log.warn('published ports not served on this node', { reason: text });
    this.lastProblems = text;
  }

  private async applyRules(plan: TrafficPlan, now: number): Promise<void> {
    const rules = this.o.packetRules;
    if (!rules || !this.kernel) return;
    const set = renderRules(plan, this.o.chainPrefix, this.o.owner, this.bridge?.subnet ?? null);
    const text = JSON.stringify(set);
    if (text === this.lastRules && now - this.lastAppliedAt < REAPPLY_MS) return;
    try {
      await rules.apply(set);
      this.lastRules = text;
      this.lastAppliedAt = now;
    } catch (error) {
      // Without the kernel's rules (no iptables, not root) every connection still arrives at the held ports: the hop carries
      // them all. Rules written before are removed (they may name replicas that are gone), and the kernel is tried again later.
      this.kernel = false;
      this.kernelRetryAt = now + KERNEL_RETRY_MS;
      this.lastRules = '';
      await rules.remove().catch(() => undefined);
      this.o.log.log(this.kernelWarned ? 'debug' : 'warn', 'kernel rules unavailable; every published-port connection takes the Node.js hop', { error: errorMessage(error), retryInMs: KERNEL_RETRY_MS });
      this.kernelWarned = true;
      this.o.wake();
    }
  }

  private probe(probes: TrafficPlan['probes']): void {
    for (const p of probes) {
      if (this.probing.has(p.key)) continue;
      this.probing.add(p.key);
      void tcpAccepts(p.host, p.port, PROBE_TIMEOUT_MS).then((ok) => {
        this.probing.delete(p.key);
        if (ok && !this.stopped) {
          this.ready.add(p.key);
          this.o.wake();
        }
      });
    }
  }

  /**
   * What this node carried for each service since the daemon started, by
   * path: the hop's own counts, and the kernel's counting rules read now.
   * When the packet filter cannot be read, only the hop's are given (and why is logged once).
   */
  async counts(): Promise<TrafficCounts[]> {
    const out: TrafficCounts[] = [...this.forwarder.counts()].map(([service, c]) => ({ service, path: 'hop' as const, ...c }));
    if (!this.o.packetRules) return out;
    try {
      for (const c of await this.kernelCounts()) out.push({ ...c, path: 'kernel' });
      this.countersWarned = false;
    } catch (error) {
      this.o.log.log(this.countersWarned ? 'debug' : 'warn', 'cannot read the kernel rules\' counters; the kernel path is missing from the traffic metrics', { error: errorMessage(error) });
      this.countersWarned = true;
    }
    return out;
  }

  /**
   * The kernel's counts, read at most once a second (each read runs
   * iptables-save, about 12 ms): scrapes that come closer together, or at
   * once from several servers, share one read.
   */
  private kernelCounts(): Promise<KernelCounts[]> {
    const now = (this.o.now ?? Date.now)();
    if (this.kernelRead && now - this.kernelRead.at < KERNEL_COUNTS_MAX_AGE_MS) return this.kernelRead.counts;
    const counts = this.o.packetRules!.counters();
    this.kernelRead = { at: now, counts };
    counts.catch(() => (this.kernelRead = undefined));
    return counts;
  }

  /** Stops serving: the ports close and this node's rules are removed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.peers.close();
    this.dns.close();
    await this.forwarder.close();
    if (this.o.packetRules) {
      await this.o.packetRules.remove().catch((error: unknown) => this.o.log.warn('cannot remove the kernel rules', { error: errorMessage(error) }));
    }
  }
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(plainAddress(a.address));
  return out;
}
