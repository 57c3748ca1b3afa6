import type { PortSpec } from '../../database/commands';
import type { NodeRecord, TaskRecord } from '../../database/queries';
import { isServiceDeleting, type ServiceState } from '../../database/service-state';
import { isServing as isHealthyOrUnchecked, isTerminalTaskState } from '../../database/task-state';

/**
 * The traffic manager's pure core: from the replicated rows (services and
 * their ports, tasks, nodes) and what this node observes locally (its
 * containers' addresses, which of them accept connections, which peers it
 * cannot reach), decide what this node should do for every published port:
 * whether to hold it, which local replicas the kernel sends connections to,
 * and which remote replicas the Node.js hop forwards to. No I/O, no clock.
 */
export interface TrafficInput {
  selfId: string;
  services: ReadonlyArray<{ name: string; state: ServiceState; ports: readonly PortSpec[] }>;
  tasks: readonly TaskRecord[];
  nodes: readonly NodeRecord[];
  /** This node's running containers by task id, with their address on the engine's bridge. */
  localContainers: ReadonlyMap<string, { containerId: string; ip: string }>;
  /** `containerId:target` pairs that accepted a TCP connection (see readinessKey). */
  ready: ReadonlySet<string>;
  /** Peers this node cannot reach right now (its own probes, faster than the host-loss grace). */
  unreachable: ReadonlySet<string>;
}

/** One replica as a destination: `host:port` is where a connection goes. */
export interface Backend {
  taskId: string;
  nodeId: string;
  host: string;
  port: number;
}

export interface PortPlan {
  published: number;
  service: string;
  target: number;
  mode: PortSpec['mode'];
  proxy: PortSpec['proxy'];
  /** Replicas on this node that accept connections: container address and target port. */
  local: Backend[];
  /** Replicas on other reachable nodes (ingress only): their node's address and the published port. */
  remote: Backend[];
  /** Whether the kernel may carry connections to the local replicas (not with the PROXY protocol, whose header only the hop writes). */
  kernel: boolean;
}

export interface TrafficPlan {
  /** The ports this node holds (listens on), sorted. */
  ports: PortPlan[];
  /** Addresses of the other nodes: a connection from one of them was forwarded here and goes to a local replica only. */
  peerAddresses: string[];
  /** Local replicas not yet known to accept connections: probe them. */
  probes: Array<{ key: string; host: string; port: number }>;
  /** Peers that run replicas this node forwards to: watch that they answer. */
  watchedPeers: Array<{ nodeId: string; address: string }>;
}

export function readinessKey(containerId: string, target: number): string {
  return `${containerId}:${target}`;
}

/** The host part of `host:port` (`[v6]:port` too). */
export function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(address);
  if (bracketed) return bracketed[1]!;
  const colon = address.lastIndexOf(':');
  return colon > 0 ? address.slice(0, colon) : address;
}

/** Only replicas wanted running, running, and healthy where they have a health check receive traffic. */
function isServing(task: TaskRecord): boolean {
  return task.desiredState === 'RUNNING' && isHealthyOrUnchecked(task);
}

export function planTraffic(input: TrafficInput): TrafficPlan {
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const byService = new Map<string, TaskRecord[]>();
  for (const task of input.tasks) {
    const list = byService.get(task.serviceName);
    if (list) list.push(task);
    else byService.set(task.serviceName, [task]);
  }
  const ports: PortPlan[] = [];
  const probes = new Map<string, { key: string; host: string; port: number }>();
  const watched = new Map<string, string>();
  let anyIngress = false;

  for (const service of input.services) {
    if (isServiceDeleting(service.state) || service.ports.length === 0) continue;
    const tasks = byService.get(service.name) ?? [];
    const hasLocalTask = tasks.some((t) => t.nodeId === input.selfId && t.desiredState === 'RUNNING' && !isTerminalTaskState(t.state));
    for (const spec of service.ports) {
      if (spec.mode === 'host' && !hasLocalTask) continue;
      if (spec.mode === 'ingress') anyIngress = true;
      const local: Backend[] = [];
      const remote: Backend[] = [];
      for (const task of tasks) {
        if (!isServing(task) || task.nodeId === null) continue;
        if (task.nodeId === input.selfId) {
          const container = input.localContainers.get(task.id);
          if (!container) continue;
          const key = readinessKey(container.containerId, spec.target);
          if (input.ready.has(key)) local.push({ taskId: task.id, nodeId: task.nodeId, host: container.ip, port: spec.target });
          else probes.set(key, { key, host: container.ip, port: spec.target });
          continue;
        }
        if (spec.mode !== 'ingress') continue;
        const node = nodes.get(task.nodeId);
        if (!node || node.status !== 'READY') continue;
        watched.set(node.id, node.address);
        if (input.unreachable.has(node.id)) continue;
        remote.push({ taskId: task.id, nodeId: node.id, host: hostOf(node.address), port: spec.published });
      }
      const byTask = (a: Backend, b: Backend) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0);
      ports.push({
        published: spec.published,
        service: service.name,
        target: spec.target,
        mode: spec.mode,
        proxy: spec.proxy,
        local: local.sort(byTask),
        remote: remote.sort(byTask),
        kernel: spec.proxy === 'none',
      });
    }
  }
  ports.sort((a, b) => a.published - b.published);
  const self = nodes.get(input.selfId);
  const peerAddresses = anyIngress
    ? [...new Set(input.nodes.filter((n) => n.id !== input.selfId).map((n) => hostOf(n.address)))].filter((h) => h !== (self ? hostOf(self.address) : undefined)).sort()
    : [];
  return {
    ports,
    peerAddresses,
    probes: [...probes.values()].sort((a, b) => (a.key < b.key ? -1 : 1)),
    watchedPeers: [...watched.entries()].map(([nodeId, address]) => ({ nodeId, address })).sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1)),
  };
}

/**
 * Where the Node.js hop tries a connection, in order, with `random` in [0, 1)
 * injected. A connection forwarded by a peer goes to a local replica only
 * (never on again: no loops). Otherwise, when the kernel already sent its
 * share of connections straight to the local replicas, what reaches the hop
 * is the remote share: remote replicas first, local ones as the fallback.
 * Else one uniform choice over every replica, then the others as fallbacks.
 * Destinations repeat only once each (a node with two replicas is one place
 * to retry).
 */
export function attemptOrder(port: PortPlan, from: 'peer' | 'kernel-share' | 'other', random: () => number): Backend[] {
  if (from === 'peer') return dedupe(shuffle(port.local, random));
  if (from === 'kernel-share' && port.kernel && port.local.length > 0) {
    return dedupe([...shuffle(port.remote, random), ...shuffle(port.local, random)]);
  }
  return dedupe(shuffle([...port.local, ...port.remote], random));
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function dedupe(backends: Backend[]): Backend[] {
  const seen = new Set<string>();
  return backends.filter((b) => {
    const key = `${b.host}:${b.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
