import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * Every metric the voting and deployment threads keep, defined here and
 * nowhere else (the REST thread's own are in modules/metrics.ts; docs/metrics.md
 * lists them all). Each thread holds its own prom-client Registry and hands
 * it to the REST thread at scrape time (collector.ts). The loops, the agent
 * and the Raft shell see only the narrow hook interfaces below, never prom-client.
 * Names follow Prometheus conventions: the `bicycle_` prefix, base units,
 * `_total` counters, and only bounded labels (command types, loop names,
 * failure reasons, services; never task or container ids).
 */

const PREFIX = 'bicycle_';

/** Seconds; a proposal waits for a quorum (one round trip) and the apply. */
const PROPOSAL_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds; applying one command is one SQLite statement or a few. */
const APPLY_BUCKETS_SECONDS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
/** Seconds; a pass of a loop reads rows and may wait on the engine. */
const PASS_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds; from the task's creation to its container running, pulls included. */
const SCHEDULING_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The voting thread's hooks (daemon/voting/cluster-node.ts). */
export interface VotingMetrics {
  /** A proposal made on this node settled: `outcome` is `committed` or the error code it failed with (a bounded catalogue). */
  proposed(seconds: number, outcome: string): void;
  /** One committed command was applied to this node's database; `command` is its type (`batch` for a batch). */
  applied(command: string, seconds: number): void;
}

export function createVotingMetrics(registry: Registry): VotingMetrics {
  const registers = [registry];
  const proposals = new Histogram({
    name: `${PREFIX}raft_proposal_duration_seconds`,
    help: 'Proposals made on this node, from propose until committed and applied here (or failed), by outcome.',
    labelNames: ['outcome'], buckets: PROPOSAL_BUCKETS_SECONDS, registers,
  });
  const applies = new Histogram({
    name: `${PREFIX}raft_apply_duration_seconds`,
    help: 'Committed commands applied to this node\'s database, the time of each apply, by command type.',
    labelNames: ['command'], buckets: APPLY_BUCKETS_SECONDS, registers,
  });
  return {
    proposed: (seconds, outcome) => proposals.observe({ outcome }, seconds),
    applied: (command, seconds) => applies.observe({ command }, seconds),
  };
}

/** Why a container the agent meant to start did not start. */
export type StartFailureReason = 'image_pull' | 'create' | 'start' | 'port';
export const START_FAILURE_REASONS: readonly StartFailureReason[] = ['image_pull', 'create', 'start', 'port'];

/** What a node's traffic manager carried for one service, since this daemon started. */
export interface TrafficCounts {
  service: string;
  /** `hop`: the Node.js listener on the published port; `kernel`: the node's DNAT rules. */
  path: 'hop' | 'kernel';
  connections: number;
  /** Client → replica. */
  bytesIn: number;
  /** Replica → client. */
  bytesOut: number;
}

/** The deployment thread's hooks (daemon/deployment/loop.ts, agent.ts). */
export interface DeploymentMetrics {
  /** A pass of a loop (orchestrator, agent, traffic, prepull) ended, `failed` when it threw. */
  passed(loop: string, seconds: number, failed: boolean): void;
  /** The engine started a container for a task. */
  containerStarted(): void;
  containerStartFailed(reason: StartFailureReason): void;
  /** A task's container runs: `seconds` since its task was created (NEW). */
  taskRunning(seconds: number): void;
}

/**
 * `traffic`, when this node serves published ports, is read at scrape time:
 * the counts of the Node.js hop and of the kernel's rules (TrafficManager.counts).
 */
export function createDeploymentMetrics(registry: Registry, traffic?: () => Promise<TrafficCounts[]>): DeploymentMetrics {
  const registers = [registry];
  const passes = new Histogram({
    name: `${PREFIX}reconcile_pass_duration_seconds`,
    help: 'Passes of the deployment thread\'s reconcile loops on this node, by loop.',
    labelNames: ['loop'], buckets: PASS_BUCKETS_SECONDS, registers,
  });
  const passFailures = new Counter({
    name: `${PREFIX}reconcile_pass_failures_total`, help: 'Passes of a reconcile loop that failed (and will be retried), by loop.', labelNames: ['loop'], registers,
  });
  const starts = new Counter({ name: `${PREFIX}container_starts_total`, help: 'Containers this node\'s agent started for tasks.', registers });
  const startFailures = new Counter({
    name: `${PREFIX}container_start_failures_total`,
    help: 'Tasks whose container this node\'s agent could not start, by reason: image_pull, create, start, port (a published port is taken).',
    labelNames: ['reason'], registers,
  });
  for (const reason of START_FAILURE_REASONS) startFailures.inc({ reason }, 0);
  const scheduling = new Histogram({
    name: `${PREFIX}task_scheduling_delay_seconds`,
    help: 'Tasks started on this node, from the task\'s creation (NEW) until its container ran (RUNNING).',
    buckets: SCHEDULING_BUCKETS_SECONDS, registers,
  });
  if (traffic) defineTrafficMetrics(registers, traffic);
  return {
    passed(loop, seconds, failed) {
      passes.observe({ loop }, seconds);
      if (failed) passFailures.inc({ loop });
    },
    containerStarted: () => starts.inc(),
    containerStartFailed: (reason) => startFailures.inc({ reason }),
    taskRunning: (seconds) => scheduling.observe(Math.max(0, seconds)),
  };
}

function defineTrafficMetrics(registers: Registry[], traffic: () => Promise<TrafficCounts[]>): void {
  // One read per scrape: both collect()s below share it.
  let reading: Promise<TrafficCounts[]> | undefined;
  const read = () => {
    reading ??= traffic().finally(() => setImmediate(() => (reading = undefined)));
    return reading;
  };
  new Counter({
    name: `${PREFIX}traffic_connections_total`,
    help: 'Connections to a service\'s published ports that this node carried to a replica, by service and path (hop: the Node.js listener; kernel: the DNAT rules).',
    labelNames: ['service', 'path'], registers,
    async collect() {
      const counts = await read();
      this.reset();
      for (const c of counts) this.inc({ service: c.service, path: c.path }, c.connections);
    },
  });
  new Counter({
    name: `${PREFIX}traffic_bytes_total`,
    help: 'Bytes carried between clients and a service\'s replicas on this node, by service, path (hop, kernel) and direction (in: client to replica, out: replica to client).',
    labelNames: ['service', 'path', 'direction'], registers,
    async collect() {
      const counts = await read();
      this.reset();
      for (const c of counts) {
        this.inc({ service: c.service, path: c.path, direction: 'in' }, c.bytesIn);
        this.inc({ service: c.service, path: c.path, direction: 'out' }, c.bytesOut);
      }
    },
  });
}
