import { openDatabase } from '../../database/open-database';
import { connectDocker } from '../docker-client';
import { ChangeNotes } from '../changes';
import { createThreadLogger, errorMessage } from '../logger';
import { VotingClient } from '../voting-client';
import { runThread, workerContext } from '../thread-runtime';
import { DockerRuntime } from '../deployment/docker-runtime';
import { Agent } from '../deployment/agent';
import { SecretFiles } from '../deployment/secret-files';
import { SecretsKeyring } from '../secrets-key';
import { join as joinPath } from 'node:path';
import { Manager } from '../deployment/manager';
import { Loop } from '../deployment/loop';
import type { Command } from '../../database/commands';
import { TrafficManager } from '../traffic/traffic-manager';
import { Iptables, ownerComment } from '../traffic/iptables';
import { chainPrefix } from '../traffic/rules';
import { NodeFactsReporter } from '../deployment/node-facts';
import { Prepuller } from '../deployment/prepull';
import { Registry } from 'prom-client';
import { createDeploymentMetrics } from '../metrics/thread-metrics';
import { answerMetricsRequest } from '../metrics/answer';

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
  // Every refusal at debug (docs/logs.md), a batch's one by one: a refused task move is usually a race the next pass settles.
  if (!result.ok) log.debug('command refused', { command: command.type, error: result.error.message });
  else for (const r of result.refused ?? []) log.debug('command refused', { command: r.type, batchIndex: r.index, code: r.error.code, error: r.error.message });
  return result;
};
const runtime = new DockerRuntime(connectDocker(config.dockerSocket), { init: config.deployment.init });
const notes = new ChangeNotes();
const registry = new Registry();
const metrics = createDeploymentMetrics(registry, config.traffic.enabled ? () => traffic!.counts() : undefined);
const onPass = (loop: string, seconds: number, failed: boolean) => metrics.passed(loop, seconds, failed);

const trafficLoop: Loop = new Loop('traffic', () => traffic!.pass(), log, { resyncIntervalMs: config.deployment.resyncIntervalMs, debounceMs: 2, onPass });
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
const managerLoop = new Loop('orchestrator', () => manager.pass(), log, { resyncIntervalMs: config.deployment.resyncIntervalMs, onPass });
const agentLoop: Loop = new Loop('agent', () => agent.pass(), log, { resyncIntervalMs: config.deployment.resyncIntervalMs, onPass });
const secretFiles = new SecretFiles(joinPath(config.dataDir, 'secrets'), db, new SecretsKeyring(config.dataDir));
const agent: Agent = new Agent({
  db,
  secretFiles,
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
  metrics,
});

/** The cut-off rule acts within a quarter second of the grace running out (or of a leader being heard again), not at the next resync. */
const cutOffWatch = setInterval(() => {
  if (agent.cutOffChanged()) agentLoop.wake();
}, 250);

/** Pre-pull: this node pulls ahead the images of the services it may run (deployment.prepull, or the service's own). */
const prepullLoop: Loop = new Loop('prepull', () => prepuller.pass(), log, { resyncIntervalMs: config.deployment.resyncIntervalMs, onPass });
const prepuller: Prepuller = new Prepuller({
  db,
  nodeId,
  runtime,
  log: log.child({ loop: 'prepull' }),
  clusterDefault: config.deployment.prepull,
  concurrency: 2,
  wake: () => prepullLoop.wake(),
});

/** This node's facts from its engine: at start, then every minute; sooner again (with back-off) while the engine or the node's row is not there yet. */
const FACTS_INTERVAL_MS = 60_000;
const facts = new NodeFactsReporter({ db, nodeId, engine: runtime, propose, log });
let factsTimer: NodeJS.Timeout | undefined;
let factsRetryMs = 1000;
async function reportFacts(): Promise<void> {
  let delayMs = FACTS_INTERVAL_MS;
  try {
    if (await facts.check()) factsRetryMs = 1000;
    else delayMs = factsRetryMs;
  } catch (error) {
    log.warn('cannot read the engine\'s facts; retrying', { error: errorMessage(error), retryMs: factsRetryMs });
    delayMs = factsRetryMs;
  }
  if (delayMs === factsRetryMs) factsRetryMs = Math.min(factsRetryMs * 2, FACTS_INTERVAL_MS);
  if (!stopping) factsTimer = setTimeout(() => void reportFacts(), delayMs);
}

notes.subscribe((note) => {
  if (note.tables.some((t) => t === 'services' || t === 'nodes')) prepullLoop.wake();
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
  onMessage(from, body) {
    if (answerMetricsRequest(registry, from, body)) return;
    proposer.handle(body);
  },
  async stop() {
    stopping = true;
    clearInterval(cutOffWatch);
    clearTimeout(factsTimer);
    unwatch?.();
    await managerLoop.stop();
    await agentLoop.stop();
    await agent.drain();
    await secretFiles.unmountIfEmpty().catch((error: unknown) => log.warn('cannot unmount the secrets tmpfs', { error: errorMessage(error) }));
    await trafficLoop.stop();
    // A pull under way is not waited for (it may take minutes); its outcome is only kept in memory.
    await prepullLoop.stop();
    await traffic?.stop();
    proposer.close();
    notes.close();
    db.close();
  },
});
managerLoop.start();
prepullLoop.start();
void reportFacts();
agentLoop.start();
if (traffic) trafficLoop.start();
void watchEngine();
