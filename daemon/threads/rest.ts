import { BroadcastChannel } from 'node:worker_threads';
import { PassThrough, type Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { openDatabase } from '../../database/open-database';
import { ChangeNotes } from '../changes';
import { createThreadLogger } from '../logger';
import { VotingClient } from '../voting-client';
import { reportFatal, runThread, sendTo, workerContext } from '../thread-runtime';
import { LOG_CHANNEL, type LogSource, type ThreadMessage } from '../messages';
import type { LogRecord } from '../log-format';
import { BicycleError } from '../errors';
import type { Command } from '../../database/commands';
import type { ApplyResult } from '../../database/apply-command';
import { BODY_LIMIT_BYTES, createApp } from '../../modules/app';
import { InboundLinkCuts } from '../../modules/debug-links';
import { raftStreamServer } from '../../modules/raft-stream';
import { localAdminListen } from '../../modules/local-admin';
import { createApiServer } from '../tls/api-server';
import { PeerHttpsAgent } from '../tls/peer-tls';
import { NodeTlsFiles } from '../tls/node-files';
import { isLoopbackListen } from '../config';
import { proposePendingTokens } from '../../modules/auth-pending';
import { DEFAULT_THREAD_METRICS_TIMEOUT_MS, ThreadMetricsCollector } from '../metrics/collector';

/**
 * The REST thread: the koa API. It reads from SQLite and records intents
 * through propose; container logs come from the monitoring thread. It never
 * talks to Docker.
 */
const { config, databaseFile } = workerContext();
const log = createThreadLogger('rest', config.logLevel).child({ node: config.name });
const db = openDatabase(databaseFile);
const proposer = new VotingClient();
const changes = new ChangeNotes();
const logStreams = new Map<string, PassThrough>();
// Node-to-node streams from this thread (a peer's container log) go as the voting thread's do: mutual TLS unless clear HTTP is the rule.
const peerAgent = config.insecure || isLoopbackListen(config.listen) ? undefined : new PeerHttpsAgent(new NodeTlsFiles(config.dataDir));
const threadMetrics = new ThreadMetricsCollector({ threads: ['voting', 'deployment'], send: sendTo, timeoutMs: DEFAULT_THREAD_METRICS_TIMEOUT_MS });

function containerLogs(sources: LogSource[], follow: boolean, tail: number): Readable {
  const streamId = randomBytes(8).toString('hex');
  const out = new PassThrough();
  logStreams.set(streamId, out);
  const close = () => {
    if (!logStreams.delete(streamId)) return;
    sendTo('monitoring', { type: 'logs.close', streamId });
    out.end();
  };
  out.on('close', close);
  out.on('error', close);
  sendTo('monitoring', { type: 'logs.open', streamId, containers: sources, follow, tail });
  return out;
}

/**
 * A write that meets no leader (an election under way) or loses its entry to
 * a leader change is retried for a short while before the client hears 503.
 */
async function proposeWithRetry(command: Command): Promise<ApplyResult> {
  const deadline = Date.now() + 3000;
  // Short steps: an election takes well under a second, and the write should land as soon as it ends.
  for (let delayMs = 25; ; delayMs = Math.min(delayMs * 2, 100)) {
    try {
      return await proposer.propose(command);
    } catch (error) {
      const retryable = error instanceof BicycleError && ['NO_LEADER', 'PROPOSAL_DROPPED', 'UNAVAILABLE'].includes(error.code);
      if (!retryable || Date.now() + delayMs > deadline) throw error;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

function followDaemonLog(listener: (record: LogRecord) => void): () => void {
  const channel = new BroadcastChannel(LOG_CHANNEL);
  channel.onmessage = (event) => listener((event as { data: LogRecord }).data);
  return () => channel.close();
}

function onMessage(_from: string, body: ThreadMessage): void {
  if (proposer.handle(body) || threadMetrics.handle(body)) return;
  if (body.type === 'logs.data') {
    logStreams.get(body.streamId)?.write(body.text);
  } else if (body.type === 'logs.end') {
    const out = logStreams.get(body.streamId);
    logStreams.delete(body.streamId);
    out?.end();
  } else if (body.type === 'undeliverable' && body.original.type === 'logs.open') {
    const out = logStreams.get(body.original.streamId);
    logStreams.delete(body.original.streamId);
    out?.end('(container logs are unavailable: the monitoring thread is restarting)\n');
  }
}

const deliverRaft = (messages: unknown[], fromAddress: string | null) => sendTo('voting', { type: 'raft.messages', messages, fromAddress });
// The links cut with --debug-links, as the REST thread knows them: the app's gate and the Raft streams both check them.
const linkCuts = new InboundLinkCuts();
const app = createApp({
  db,
  propose: (command) => proposeWithRetry(command),
  voting: proposer,
  deliverRaft,
  changes,
  log,
  dataDir: config.dataDir,
  advertise: config.advertise,
  maxReplicas: config.deployment.maxReplicas,
  lifecycleDefaults: {
    updateParallelism: config.deployment.updateParallelism,
    stopGracePeriodMs: config.deployment.stopGracePeriodMs,
    prepull: config.deployment.prepull,
  },
  now: () => Date.now(),
  auth: config.auth,
  containerLogs,
  followDaemonLog,
  threadMetrics: () => threadMetrics.render(),
  peerHttpsAgent: peerAgent ? () => peerAgent.get() : undefined,
}, linkCuts);

const [host, port] = [config.listen.slice(0, config.listen.lastIndexOf(':')), Number(config.listen.slice(config.listen.lastIndexOf(':') + 1))];
// HTTPS off loopback unless --insecure (daemon/tls/api-server.ts); without a certificate this throws and the daemon does not start.
const api = createApiServer(app.callback(), config, log);
const server: Server = api.server.listen(port, host);
server.keepAliveTimeout = 65_000;
// Peers' Raft batches over one long-lived connection each (modules/raft-stream.ts).
const raftStreams = raftStreamServer({ db, cuts: linkCuts, deliver: deliverRaft, maxLineBytes: BODY_LIMIT_BYTES });
server.on('upgrade', raftStreams.upgrade);
// Local administration (docs/rest.md): on a specific non-loopback address, the API also answers on 127.0.0.1 at the same port.
const admin = localAdminListen(config.listen);
const adminServer: Server | undefined = admin ? app.listen(admin.port, admin.host) : undefined;
adminServer?.on('listening', () => log.info('local administration listening', { listen: `${admin!.host}:${admin!.port}` }));
adminServer?.on('error', (error: Error) => {
  log.warn('cannot listen for local administration: tokenless administration on this host\'s loopback is unavailable', { listen: `${admin!.host}:${admin!.port}`, error: error.message });
});
// Tokens minted by `bicycled --init` or `bicycled token bootstrap` (another process, so no change note): looked for every second.
let pendingBusy = false;
function proposePending(): void {
  if (pendingBusy) return;
  pendingBusy = true;
  void proposePendingTokens(db, (command) => proposeWithRetry(command), log, Date.now())
    .catch((error: unknown) => log.warn('cannot propose a pending API token', { error: (error as Error).message }))
    .finally(() => (pendingBusy = false));
}
let pendingTimer: NodeJS.Timeout | undefined;
server.on('listening', () => {
  log.info('REST API listening', { listen: config.listen, tls: api.tls });
  runThread({
    onMessage,
    async stop() {
      // Upgraded connections are not the HTTP server's to end, and its close waits for them.
      raftStreams.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Streams (logs -f) and waits would hold the close forever: end them.
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      });
      clearInterval(pendingTimer);
      api.close();
      peerAgent?.close();
      adminServer?.close();
      adminServer?.closeAllConnections();
      for (const out of logStreams.values()) out.end();
      proposer.close();
      changes.close();
      db.close();
    },
  });
  // Only once runThread is listening for the voting thread's replies.
  pendingTimer = setInterval(proposePending, 1000);
  proposePending();
});
server.on('error', (error: NodeJS.ErrnoException) => {
  const reason = error.code === 'EADDRINUSE' ? `${config.listen} is already in use (is another bicycled running?)` : error.message;
  reportFatal(new BicycleError('INVALID_ARGUMENT', `cannot listen on ${config.listen}: ${reason}`));
  setTimeout(() => process.exit(1), 100);
});
