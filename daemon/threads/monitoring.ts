import { openDatabase } from '../../database/open-database';
import { getMeta } from '../../database/queries';
import { connectDocker } from '../docker-client';
import { LogSink } from '../monitoring/log-sink';
import { StatsSampler } from '../monitoring/stats-sampler';
import { ContainerLogStreams } from '../monitoring/container-logs';
import { errorMessage } from '../logger';
import { runThread, sendTo, workerContext } from '../thread-runtime';
import type { ThreadMessage, ThreadName } from '../messages';

/**
 * The monitoring/logging thread: the daemon log's writer, the container
 * stats sampler, and the reader of container logs for `service logs`.
 */
const { config, databaseFile, nodeId } = workerContext();
const sink = new LogSink(config.dataDir, config.logLevel);
const log = sink.child({ node: config.name });
const db = openDatabase(databaseFile);
const docker = connectDocker(config.dockerSocket);
const logStreams = new ContainerLogStreams(docker, (body) => sendTo('rest', body));
let sampler: StatsSampler | undefined;
let sampling = false;

async function sample(): Promise<void> {
  if (sampling) return;
  sampling = true;
  try {
    const cluster = getMeta(db, 'cluster_id');
    if (!cluster) return;
    sampler ??= new StatsSampler(docker, db, { cluster, node: nodeId }, log);
    await sampler.sampleOnce(Date.now());
  } catch (error) {
    log.warn('container stats sampling failed; will retry', { error: errorMessage(error) });
  } finally {
    sampling = false;
  }
}

const timer = setInterval(() => void sample(), config.monitoring.statsIntervalMs);

function onMessage(_from: ThreadName, body: ThreadMessage): void {
  if (body.type === 'logs.open') {
    void logStreams.start(body.streamId, body.containers, body.follow, body.tail);
  } else if (body.type === 'logs.close') {
    logStreams.close(body.streamId);
  }
}

runThread({
  onMessage,
  async stop() {
    clearInterval(timer);
    logStreams.closeAll();
    db.close();
    log.info('monitoring stopped');
    await sink.close();
  },
});
