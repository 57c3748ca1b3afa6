import { openDatabase } from '../../database/open-database';
import { connectDocker } from '../docker-client';
import { ChangeNotes } from '../changes';
import { createThreadLogger, errorMessage } from '../logger';
import { VotingClient } from '../voting-client';
import { runThread, workerContext } from '../thread-runtime';
import { DockerRuntime } from '../deployment/docker-runtime';
import { Agent } from '../deployment/agent';
import { Manager } from '../deployment/manager';
import { Loop } from '../deployment/loop';
import type { Command } from '../../database/commands';
import { TrafficManager } from '../traffic/traffic-manager';
import { Iptables, ownerComment } from '../traffic/iptables';
import { chainPrefix } from '../traffic/rules';

/**
 * The deployment thread: the leader's orchestrator and scheduler (one
 * loop), and this node's agent converging the local engine (another loop).
 * Both wake on change notes; the agent also on the engine's container events.
 */
const { config, databaseFile, nodeId } = workerContext();
const log = createThreadLogger('deployment', config.logLevel).child({ node: config.name });
const db = openDatabase(databaseFile);
const proposer = new VotingClient();
const propose = async (command: Command) => {
  const result = await proposer.propose(command);
  if (!result.ok) log.debug('command refused', { command: command.type, error: result.error.message });
  return result;
};
const runtime = new DockerRuntime(connectDocker(config.dockerSocket), { init: config.deployment.init });
const notes = new ChangeNotes();

const trafficLoop: Loop = new Loop('traffic', () => traffic!.pass(), log, { resyncIntervalMs: config.deployment.resyncIntervalMs, debounceMs: 2 });
const prefix = chainPrefix(nodeId);
const traffic = config.traffic.enabled
  ? new TrafficManager({
      db,
      runtime,
      nodeId,
      nodeName: config.name,
      advertise: config.advertise,
      log: log.child({ loop: 'traffic' }),
      config: config.traffic,
      packetRules: config.traffic.kernel ? new Iptables(prefix) : null,
      owner: ownerComment(process.pid),
      chainPrefix: prefix,
      wake: () => trafficLoop.wake(),
    })
  : undefined;

const manager = new Manager({ db, nodeId, propose, log, updateParallelism: config.deployment.updateParallelism, autoRebalance: config.deployment.autoRebalance,
  strategy: config.deployment.strategy });
const managerLoop = new Loop('orchestrator', () => manager.pass(), log, { resyncIntervalMs: config.deployment.resyncIntervalMs });
const agentLoop: Loop = new Loop('agent', () => agent.pass(), log, { resyncIntervalMs: config.deployment.resyncIntervalMs });
const agent: Agent = new Agent({
  db,
  runtime,
  nodeId,
  propose,
  log,
  concurrency: config.deployment.concurrency,
  stopGracePeriodMs: config.deployment.stopGracePeriodMs,
  traffic: traffic && {
    portProblem: (service) => traffic.portProblem(service),
    dnsConfig: () => traffic.dnsConfig(),
    deregisterDelayMs: config.traffic.deregisterDelayMs,
  },
  wake: () => agentLoop.wake(),
  hostGraceMs: config.voting.hostGraceMs,
});

/** The cut-off rule acts within a quarter second of the grace running out (or of a leader being heard again), not at the next resync. */
const cutOffWatch = setInterval(() => {
  if (agent.cutOffChanged()) agentLoop.wake();
}, 250);

notes.subscribe((note) => {
  if (note.tables.some((t) => t === 'services' || t === 'tasks' || t === 'nodes' || t === 'meta')) managerLoop.wake();
  if (note.tables.some((t) => t === 'tasks' || t === 'services' || t === 'meta')) agentLoop.wake();
  if (traffic && note.tables.some((t) => t === 'tasks' || t === 'services' || t === 'nodes' || t === 'meta')) trafficLoop.wake();
});

/** Container events wake the agent at once (a container that dies is replaced in seconds, not at the next resync). */
let unwatch: (() => void) | undefined;
let watchRetryMs = 500;
let stopping = false;
async function watchEngine(): Promise<void> {
  const labels = agent.labels();
  if (stopping) return;
  if (!labels) {
    setTimeout(() => void watchEngine(), 200);
    return;
  }
  try {
    unwatch = await runtime.watch(
      labels,
      (event) => {
        // `health_status: healthy` and the like: a replica's health changed, which the agent reports and the traffic manager follows.
        if (['die', 'stop', 'destroy', 'start', 'oom', 'kill'].includes(event.action) || event.action.startsWith('health_status')) {
          agentLoop.wake();
          if (traffic) trafficLoop.wake();
        }
      },
      (error) => {
        log.warn('engine event stream broke; reconnecting', { error: error.message, retryMs: watchRetryMs });
        unwatch = undefined;
        setTimeout(() => void watchEngine(), watchRetryMs);
        watchRetryMs = Math.min(watchRetryMs * 2, 10_000);
        agentLoop.wake();
      },
    );
    watchRetryMs = 500;
    agentLoop.wake();
  } catch (error) {
    log.warn('cannot watch the engine; retrying', { error: errorMessage(error), retryMs: watchRetryMs });
    setTimeout(() => void watchEngine(), watchRetryMs);
    watchRetryMs = Math.min(watchRetryMs * 2, 10_000);
  }
}

runThread({
  onMessage(_from, body) {
    proposer.handle(body);
  },
  async stop() {
    stopping = true;
    clearInterval(cutOffWatch);
    unwatch?.();
    await managerLoop.stop();
    await agentLoop.stop();
    await agent.drain();
    await trafficLoop.stop();
    await traffic?.stop();
    proposer.close();
    notes.close();
    db.close();
  },
});
managerLoop.start();
agentLoop.start();
if (traffic) trafficLoop.start();
void watchEngine();
