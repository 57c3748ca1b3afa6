import type { Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import { REVOKED_NODE_PREFIX } from '../../database/apply-command';
import { managerWarnings } from '../../database/node-state';
import { getMeta, getNode, listNodes } from '../../database/queries';
import { toErrorData, type ErrorData } from '../errors';
import type { Logger } from '../logger';
import type { JoinRequest, MembershipRequest, VotingReply, VotingRequest } from '../cluster-protocol';
import type { NodeTls } from '../tls/node-tls';
import type { ConfState, NodeId } from './raft/index';
import { buildGrant, caKeyRefusal, findJoinClash, findMemoryPredecessor, joinRefusal, rejoinRefusal, renewalRefusal, type MemberLookup } from './admission';

/** What admission needs of the voting shell (daemon/voting/cluster-node.ts). */
export interface AdmitterHost {
  db: Db;
  nodeId: NodeId;
  tls: NodeTls;
  log: Logger;
  isLeader(): boolean;
  /** To the leader, one hop (daemon/voting/forwarding.ts). */
  forward(request: VotingRequest, forwarded: boolean): Promise<VotingReply>;
  /** Commits a command made on this node, the leader. */
  propose(command: Command): Promise<VotingReply>;
  conf(): ConfState;
  /** Adds `id` to the configuration as a learner, retrying while another change is pending. */
  addLearner(id: NodeId): Promise<VotingReply>;
  /** `bicycle node rm`, as the leader runs it. */
  changeMembership(change: MembershipRequest): Promise<VotingReply>;
  /** Where `id` is reached before its row records it (the address it gave). */
  learnAddress(id: NodeId, address: string): void;
  /** Counts as a heartbeat from `id` at `at` (a joiner is not lost before it has started). */
  heardFrom(id: NodeId, at: number): void;
  addressOf(id: NodeId): string | undefined;
}

/**
 * Admission, the leader's shell around the pure rules of ./admission.ts:
 * joins (a new node, a memory node taking its lost predecessor's place, a
 * member back after its certificate expired), the grant a joiner gets, and
 * the certificates and CA key members ask for. A follower forwards each of
 * them to the leader.
 */
export class Admitter {
  constructor(private readonly o: AdmitterHost) {}

  async join(request: JoinRequest, forwarded: boolean): Promise<VotingReply> {
    if (!this.o.isLeader()) return this.o.forward({ kind: 'join', join: request, forwarded: true }, forwarded);
    const { db } = this.o;
    const refused = joinRefusal(request, getMeta(db, 'join_token'), (id) => this.isRevoked(id));
    if (refused) return fail(refused);
    const { node } = request;
    if (request.rejoin) return this.rejoin(request);
    // Signed before anything changes: a request the CA cannot sign admits nobody.
    const certificate = request.csr ? await this.o.tls.sign(request.csr, node.id, node.address) : undefined;
    if (request.store === 'memory') {
      const replaced = await this.replacePredecessor(node);
      if (replaced) return replaced;
    }
    const clash = findJoinClash(listNodes(db), this.o.conf(), node);
    if (clash) return fail(clash);
    this.o.learnAddress(node.id, node.address);
    const now = Date.now();
    const session = request.link === 'session';
    const registered = await this.o.propose({ type: 'node.register', node: { ...node, startedAt: now, ...(session ? { link: 'session' as const } : {}) }, at: now });
    if (!registered.ok) return registered;
    const conf = this.o.conf();
    // A session worker is never in the configuration: it hears of its tasks from a manager (modules/sessions.ts), not from the log.
    if (!session && !conf.voters.includes(node.id) && !conf.learners.includes(node.id)) {
      const added = await this.o.addLearner(node.id);
      if (!added.ok) return added;
    }
    this.o.heardFrom(node.id, now);
    this.o.log.info('node joined', { joined: node.name, role: node.role, address: node.address, ...(session ? { link: 'session' } : {}) });
    for (const warning of managerWarnings(listNodes(db))) this.o.log.warn(warning);
    return { ok: true, grant: this.grant(node.role, certificate) };
  }

  /** A member renews its certificate: the leader signs a new one for the id and the address its row records. */
  async sign(nodeId: string, csr: string, forwarded: boolean): Promise<VotingReply> {
    if (!this.o.isLeader()) return this.o.forward({ kind: 'sign', nodeId, csr, forwarded: true }, forwarded);
    const found = this.lookup(nodeId);
    const refused = renewalRefusal(nodeId, found);
    if (refused) return fail(refused);
    try {
      return { ok: true, certificate: await this.o.tls.sign(csr, nodeId, found.member!.address) };
    } catch (error) {
      return { ok: false, error: toErrorData(error) };
    }
  }

  /**
   * A manager without the CA key (a worker promoted since it joined) asks
   * for it: the leader hands its copy to a member whose row says manager,
   * so whichever manager leads next can sign joins and renewals. Workers are
   * refused: the key is for managers only (docs/security.md).
   */
  async caKey(nodeId: string, forwarded: boolean): Promise<VotingReply> {
    if (!this.o.isLeader()) return this.o.forward({ kind: 'caKey', nodeId, forwarded: true }, forwarded);
    const ca = this.o.tls.files.ca();
    const refused = caKeyRefusal(nodeId, this.lookup(nodeId), ca !== undefined);
    if (refused) return fail(refused);
    return { ok: true, caKey: ca!.keyPem };
  }

  /**
   * A memory-store joiner's lost predecessor (same name and address) is removed, as `bicycle node rm`
   * would: out of the configuration, its row gone, its certificates revoked. Null when the join may go on.
   */
  private async replacePredecessor(node: JoinRequest['node']): Promise<VotingReply | null> {
    const predecessor = findMemoryPredecessor(listNodes(this.o.db), node);
    if (predecessor.kind === 'none') return null;
    if (predecessor.kind === 'wait') return fail({ code: 'UNAVAILABLE', message: predecessor.message });
    const removed = await this.o.changeMembership({ action: 'remove', nodeId: predecessor.member.id });
    if (!removed.ok) return removed;
    this.o.log.info('a memory node takes the place of its lost predecessor', { target: node.name, previous: predecessor.member.id, joined: node.id });
    return null;
  }

  /**
   * A member back after its certificate expired (moby/moby#42660): with a
   * valid join token, the same id, name and address get a new certificate;
   * nothing else changes (its row and its place in the configuration stay).
   */
  private async rejoin(request: JoinRequest): Promise<VotingReply> {
    const { node } = request;
    const member = getNode(this.o.db, node.id);
    const refused = rejoinRefusal(member, request);
    if (refused) return fail(refused);
    const certificate = await this.o.tls.sign(request.csr!, node.id, node.address);
    this.o.log.info('renewed the expired certificate of a member that came back with a join token', { target: node.name });
    return { ok: true, grant: this.grant(member!.role, certificate) };
  }

  private grant(role: 'manager' | 'worker', certificate: string | undefined): ReturnType<typeof buildGrant> {
    const members: Record<string, string> = {};
    for (const n of listNodes(this.o.db)) members[n.id] = this.o.addressOf(n.id) ?? n.address;
    return buildGrant({
      clusterId: getMeta(this.o.db, 'cluster_id'),
      clusterSecret: getMeta(this.o.db, 'cluster_secret'),
      leaderId: this.o.nodeId,
      members,
      role,
      certificate,
      ca: this.o.tls.files.ca(),
    });
  }

  private isRevoked(id: NodeId): boolean {
    return Boolean(getMeta(this.o.db, `${REVOKED_NODE_PREFIX}${id}`));
  }

  private lookup(nodeId: NodeId): MemberLookup {
    return { revoked: this.isRevoked(nodeId), member: getNode(this.o.db, nodeId) };
  }
}

function fail(error: ErrorData | { code: ErrorData['code']; message: string }): VotingReply {
  return { ok: false, error: { code: error.code, message: error.message } };
}
