import { randomBytes } from 'node:crypto';
import { openDatabase } from '../../database/open-database';
import { getNode, setLocal } from '../../database/queries';
import { ChangeNotes } from '../changes';
import { createThreadLogger, errorMessage } from '../logger';
import { reportFatal, runThread, sendTo, workerContext } from '../thread-runtime';
import { toErrorData } from '../errors';
import { ClusterNode } from '../voting/cluster-node';
import { isLoopbackListen } from '../config';
import { NodeTls } from '../tls/node-tls';
import { MutualTlsPeerHttp, PlainPeerHttp } from '../tls/peer-tls';
import { CertificateRenewal, joinWithCertificate } from '../tls/join-tls';
import { CaKeyHolder } from '../tls/ca-key-holder';
import { grantWithSecretsKey, settleSecretsKey } from '../secrets-key';
import type { Message } from '../voting/raft/index';
import type { ThreadMessage, ThreadName, VotingReply, VotingRequest } from '../messages';
import { Registry } from 'prom-client';
import { createVotingMetrics } from '../metrics/thread-metrics';
import { answerMetricsRequest } from '../metrics/answer';
import { DebugLinkTable } from '../voting/debug-link-table';

/**
 * The voting thread: the Raft node of this host. It owns the only write path
 * to the replicated tables (propose → commit → apply), elects the leader,
 * detects lost hosts on the leader, and admits joining nodes. Alone, a node
 * is a cluster of one and leads at once; the code path is the same.
 */
const { config, databaseFile, nodeId, unlockPassphrase } = workerContext();
/** --autolock and its passphrase, for every settling of the secrets key (daemon/secrets-key.ts). */
const autolock = { autolock: config.autolock, passphrase: unlockPassphrase };
const log = createThreadLogger('voting', config.logLevel).child({ node: config.name });
const db = openDatabase(databaseFile);
const notes = new ChangeNotes();
const tls = new NodeTls(config.dataDir, config.tls);
// Loopback stays plain HTTP (the one-host quick start); anywhere else peers talk mutual TLS unless --insecure.
const scheme: 'http' | 'https' = config.insecure || isLoopbackListen(config.listen) ? 'http' : 'https';
const registry = new Registry();
// Links cut on demand (--debug-links): in memory only, gone with the daemon.
const links = new DebugLinkTable({ enabled: config.debugLinks, db, nodeId, log });
const node = new ClusterNode({
  db,
  nodeId,
  name: config.name,
  advertise: config.advertise,
  role: config.role,
  settings: config.voting,
  notes,
  log,
  tls,
  peers: scheme === 'https' ? new MutualTlsPeerHttp(tls.files) : new PlainPeerHttp(),
  metrics: createVotingMetrics(registry),
  dropsOutgoing: (id) => links.dropsOutgoing(id),
});

async function handle(request: VotingRequest): Promise<VotingReply> {
  switch (request.kind) {
    case 'propose':
      return node.propose(request.command, request.forwarded);
    case 'read':
      return node.read(request.forwarded);
    case 'join': {
      const reply = await node.join(request.join, request.forwarded);
      return reply.ok && reply.grant ? { ...reply, grant: grantWithSecretsKey(config.dataDir, reply.grant) } : reply;
    }
    case 'membership':
      return node.changeMembership(request.change);
    case 'sign':
      return node.sign(request.nodeId, request.csr, request.forwarded);
    case 'caKey':
      return node.caKey(request.nodeId, request.forwarded);
    case 'seen':
      return node.sessionsSeen(request.nodeIds, request.forwarded);
    case 'links':
      return links.handle(request.change);
  }
}

function onMessage(from: ThreadName, body: ThreadMessage): void {
  if (answerMetricsRequest(registry, from, body)) return;
  if (body.type === 'raft.messages') {
    node.receive(body.messages as Message[], body.fromAddress);
  } else if (body.type === 'voting.request') {
    handle(body.request)
      .catch((error: unknown): VotingReply => {
        log.error('voting request failed', { kind: body.request.kind, error: errorMessage(error) });
        return { ok: false, error: toErrorData(error) };
      })
      .then((reply) => sendTo(from, { type: 'voting.reply', id: body.id, reply }));
  }
}

/** First start with --join: ask a member to admit this node, then wait for the leader to send the log. */
async function bootstrap(): Promise<void> {
  const fresh = node.hasEmptyLog();
  if (fresh && config.join) {
    const grant = await joinWithCertificate({
      tls,
      scheme,
      address: config.join,
      request: { token: config.token!, node: { id: nodeId, name: config.name, address: config.advertise, role: config.role }, store: config.store },
      log,
    });
    setLocal(db, 'cluster_secret', grant.clusterSecret);
    settleSecretsKey(config.dataDir, { kind: 'joined', key: grant.secretsKey }, log, autolock);
    node.learnAddresses(grant.members);
    log.info('joined the cluster', { cluster: grant.clusterId, via: config.join, role: config.role });
    node.start();
  } else if (fresh && config.peers) {
    setLocal(db, 'cluster_secret', config.clusterSecret!);
    settleSecretsKey(config.dataDir, { kind: 'fixed', clusterSecret: config.clusterSecret! }, log, autolock);
    node.learnAddresses(Object.fromEntries(config.peers.map((p) => [p.name, p.address])));
    const voters = config.peers.filter((p) => p.role === 'manager').map((p) => p.name);
    const learners = config.peers.filter((p) => p.role === 'worker').map((p) => p.name);
    log.info('founding a fixed cluster', { voters: voters.join(','), learners: learners.join(',') });
    node.start(voters, learners);
  } else if (fresh) {
    setLocal(db, 'cluster_secret', randomBytes(24).toString('base64url'));
    settleSecretsKey(config.dataDir, { kind: 'found' }, log, autolock);
    await tls.found(nodeId, config.advertise);
    log.info('created the cluster CA', { ca: tls.caFingerprint() });
    node.start([nodeId]);
  } else {
    await renewExpired();
    if (config.peers) node.learnAddresses(Object.fromEntries(config.peers.map((p) => [p.name, p.address])));
    if (config.join) log.info('already a member: --join is ignored', { join: config.join });
    settleSecretsKey(config.dataDir, { kind: 'restart', joined: Boolean(config.join), ...(config.peers ? { clusterSecret: config.clusterSecret! } : {}) }, log, autolock);
    node.start();
  }
}

/**
 * A member whose certificate expired while it was off cannot talk to any
 * peer (they refuse it in the handshake): with --join and a fresh --token it
 * asks for a new certificate as itself; without them it says how to.
 */
async function renewExpired(): Promise<void> {
  const own = tls.ownCertificate();
  if (scheme !== 'https' || !own || own.notAfterMs > Date.now()) return;
  const expired = new Date(own.notAfterMs).toISOString();
  if (!config.join || !config.token) {
    throw new Error(
      `this node's certificate expired at ${expired} while it was off, so its peers refuse it; ` +
        'restart it with --join <a member\'s address> --token <a fresh token from `bicycle node join-token`> to get a new one (its data and identity stay)',
    );
  }
  log.warn('this node\'s certificate expired while it was off; asking for a new one with the join token', { expired, via: config.join });
  const grant = await joinWithCertificate({
    tls,
    scheme,
    address: config.join,
    request: { token: config.token, node: { id: nodeId, name: config.name, address: config.advertise, role: config.role }, rejoin: true },
    log,
  });
  node.learnAddresses(grant.members);
}

const renewal = new CertificateRenewal({
  tls,
  nodeId,
  sign: (csr) => node.sign(nodeId, csr, false),
  log,
});

const caKeyHolder = new CaKeyHolder({
  tls,
  role: () => getNode(db, nodeId)?.role,
  ask: () => node.caKey(nodeId, false),
  log,
});

bootstrap()
  .then(() => {
    if (scheme === 'https') {
      renewal.start();
      caKeyHolder.start();
    }
  })
  .then(() =>
    runThread({
      onMessage,
      async stop() {
        renewal.stop();
        caKeyHolder.stop();
        await node.transferLeadership(2000).catch(() => undefined);
        node.stop();
        links.close();
        notes.close();
        db.close();
      },
    }),
  )
  .catch((error: unknown) => {
    log.error('cannot start the voting thread', { error: errorMessage(error) });
    reportFatal(error);
    setTimeout(() => process.exit(1), 100);
  });
