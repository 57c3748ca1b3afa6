/**
 * The node-to-node protocol, one place for both sides: the REST thread's
 * routes that serve it (modules/cluster.ts, modules/logs.ts) and the voting
 * thread's clients that speak it (daemon/voting/http-transport.ts,
 * peer-client.ts, join-client.ts). A leaf: paths, header names, the secret
 * a clear-HTTP peer carries, and the bodies each route answers. It imports
 * nothing of the voting shell.
 */
import type { JoinGrant, JoinRequest, MembershipRequest, VotingReply, VotingRequest } from './messages';

export type { JoinGrant, JoinRequest, MembershipRequest, VotingReply, VotingRequest };

/** The secret peers authenticate with in clear HTTP (`Authorization: Bearer …`); database/queries.ts reads it. */
export { clusterSecret } from '../database/queries';

/** POST: a JSON array of Raft messages from a peer; answered 204. */
export const RAFT_PATH = '/cluster/raft';

/**
 * GET with `Upgrade: RAFT_STREAM_PROTOCOL`: one long-lived connection per
 * peer for its Raft batches (daemon/voting/raft-stream.ts,
 * modules/raft-stream.ts), authenticated once as RAFT_PATH is. After the
 * 101 answer, the peer writes one line per batch (a JSON array of Raft
 * messages) and this node answers one line per batch, in order: `{}` once
 * it is handed to Raft, or an ErrorAnswer. A node that does not know the
 * path answers 404 and its peers POST to RAFT_PATH instead.
 */
export const RAFT_STREAM_PATH = '/cluster/raft/stream';
export const RAFT_STREAM_PROTOCOL = 'bicycle-raft/1';

/** POST: a `VotingRequest` forwarded to this node's voting thread; answered `VotingAnswer`. */
export const VOTING_PATH = '/cluster/voting';

/** POST: a `JoinRequest` (answered `JoinAnswer`); GET: the cluster CA's certificate (answered `CaAnswer`). */
export const JOIN_PATH = '/cluster/join';

/** GET: the log of one of this node's containers, as bare lines (`?follow=&tail=`). */
export const CONTAINER_LOGS_PATH = '/cluster/logs/:containerId';

/** What every concrete CONTAINER_LOGS_PATH begins with. */
export const CONTAINER_LOGS_PREFIX = '/cluster/logs/';

/** CONTAINER_LOGS_PATH for one container. */
export function containerLogsPath(containerId: string): string {
  return CONTAINER_LOGS_PATH.replace(':containerId', encodeURIComponent(containerId));
}

/** GET (how much is held) and POST (a chunk at `?offset=`) of a snapshot sent in chunks, `/cluster/snapshot/<term>-<index>-<leader>` (daemon/voting/snapshot-sender.ts, modules/snapshot-receive.ts). */
export const SNAPSHOT_PREFIX = '/cluster/snapshot/';

/**
 * POST: a session worker (joined with link "session", not a Raft member)
 * asks a manager for its tasks: `{ node, after?, waitMs? }`, answered
 * `SessionAnswer` (modules/sessions.ts). Each ask is its heartbeat.
 */
export const SESSION_PATH = '/cluster/session';

/** One of a session worker's tasks, as its session answers it. */
export interface SessionTask {
  id: string;
  service: string;
  slot: number;
  specVersion: number;
  state: string;
  desiredState: string;
  containerId: string | null;
}

/**
 * SESSION_PATH's answer: the worker's tasks at applied index `index`, the
 * specs they run (by `service@specVersion`), and the leader to report to.
 * `changed: false` (no tasks listed) when its tasks did not change after
 * the `after` it asked with, within its wait. `full`: `tasks` are all of
 * them; else only those that changed after `after`, and `gone` the ids of
 * tasks no longer on it (moved or removed) — the worker merges them into
 * what it has.
 */
export interface SessionAnswer {
  index: number;
  leader: { id: string; address: string } | null;
  changed: boolean;
  full?: boolean;
  tasks?: SessionTask[];
  gone?: string[];
  specs?: Record<string, unknown>;
}

/** Where the sender says it listens (host:port), so that a peer in clear HTTP can answer before it knows it. */
export const PEER_ADDRESS_HEADER = 'x-bicycle-address';

/** Every route above: node-to-node only (a node certificate over mutual TLS, or the cluster secret in clear; a join carries its token). */
export function isNodeToNodePath(path: string): boolean {
  return path === RAFT_PATH || path === VOTING_PATH || path === JOIN_PATH || path === SESSION_PATH || path.startsWith(CONTAINER_LOGS_PREFIX) || path.startsWith(SNAPSHOT_PREFIX);
}

/** A refusal, as every route answers it (modules/error-middleware.ts); the code is the peer's word, to be checked (isErrorCode). */
export interface ErrorAnswer {
  error: { code: string; message: string };
}

/** VOTING_PATH's body when it answers (a reply that is itself a refusal still comes as `reply`). */
export interface VotingAnswer {
  reply: VotingReply;
}

/** POST JOIN_PATH's body when the join is granted. */
export interface JoinAnswer {
  grant: JoinGrant;
}

/** GET JOIN_PATH's body: the CA certificate and its fingerprint, which the joiner checks against its token. */
export interface CaAnswer {
  certificate: string;
  fingerprint: string;
}
