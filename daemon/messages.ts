import type { Command } from '../database/commands';
import type { ApplyResult, Table } from '../database/apply-command';
import type { ErrorData } from './errors';

/**
 * Every message that crosses a thread boundary, in one place. Threads never
 * share objects: they post these plain-data messages through the main
 * thread, which routes them by thread name (so a restarted thread is
 * reachable at once under the same name).
 */
export type ThreadName = 'rest' | 'deployment' | 'voting' | 'monitoring';
export const THREAD_NAMES: readonly ThreadName[] = ['monitoring', 'voting', 'deployment', 'rest'];

/** A node asking to join, as the joining node describes itself. */
export interface JoinRequest {
  token: string;
  node: { id: string; name: string; address: string; role: 'manager' | 'worker' };
  /** The joiner's certificate signing request (PEM); the grant carries the certificate the leader signs for it. */
  csr?: string;
  /** A member whose certificate expired while it was off, coming back with a fresh token: same id, name and address. */
  rejoin?: boolean;
  /** The joiner's state store; `memory` (a new node at every start) may take the name and address of its lost predecessor. */
  store?: 'memory' | 'persisted';
  /** `session`: a worker that hears of its tasks over a worker session (modules/sessions.ts), not as a Raft learner; absent: `raft`. */
  link?: 'raft' | 'session';
}

/** What a node that may join receives: enough to authenticate and reach its peers. */
export interface JoinGrant {
  clusterId: string;
  clusterSecret: string;
  leaderId: string;
  /** Member node id → advertised address. */
  members: Record<string, string>;
  /** The cluster's secrets key, base64 (daemon/secrets-key.ts); absent from a member that has none. */
  secretsKey?: string;
  /** The node's certificate (PEM), signed by the cluster CA, when the request carried a CSR. */
  certificate?: string;
  /** The cluster CA's certificate, and its key for a manager (so that any manager can sign when it leads). */
  ca?: { certPem: string; keyPem?: string };
}

/** A membership change asked for through the API. */
export type MembershipRequest = { action: 'remove' | 'promote' | 'demote'; nodeId: string };

/** What other threads ask of the voting thread. */
export type VotingRequest =
  /** Commit a command; `forwarded` when it came from a follower (so it is not forwarded again). */
  | { kind: 'propose'; command: Command; forwarded: boolean }
  /** A linearizable read barrier: answers once this node has applied everything committed before it. */
  | { kind: 'read'; forwarded: boolean }
  | { kind: 'join'; join: JoinRequest; forwarded: boolean }
  | { kind: 'membership'; change: MembershipRequest }
  /** A member renews its certificate: the leader signs `csr` for `nodeId` (the id its current certificate names). */
  | { kind: 'sign'; nodeId: string; csr: string; forwarded: boolean }
  /** A manager without the CA key (a worker promoted since it joined) asks the leader for it; `nodeId` is the one its certificate names. */
  | { kind: 'caKey'; nodeId: string; forwarded: boolean }
  /** Session workers a manager heard from (modules/sessions.ts); the leader counts them as heard from now. */
  | { kind: 'seen'; nodeIds: string[]; forwarded: boolean }
  /** `bicycled --debug-links`: change this node's cut links (or, without `change`, list them); never forwarded. */
  | { kind: 'links'; change?: import('./voting/debug-links').LinkChange };

export type VotingReply =
  | { ok: true; result?: ApplyResult; index?: number; grant?: JoinGrant; certificate?: string; caKey?: string; links?: import('./voting/debug-links').LinkCut[] }
  | { ok: false; error: ErrorData };

/** Between two threads, routed by main. */
export type ThreadMessage =
  | { type: 'voting.request'; id: number; request: VotingRequest }
  | { type: 'voting.reply'; id: number; reply: VotingReply }
  /** Raft messages from a peer, received by the REST thread; `fromAddress` is where the sender says it listens. */
  | { type: 'raft.messages'; messages: unknown[]; fromAddress: string | null }
  | { type: 'logs.open'; streamId: string; containers: LogSource[]; follow: boolean; tail: number }
  | { type: 'logs.data'; streamId: string; text: string }
  | { type: 'logs.end'; streamId: string; error?: ErrorData }
  | { type: 'logs.close'; streamId: string }
  /** The REST thread asks a thread for its metrics at scrape time (daemon/metrics/collector.ts). */
  | { type: 'metrics.request'; id: number }
  /** prom-client's `getMetricsAsJSON()` of the thread's own registry: plain data. */
  | { type: 'metrics.reply'; id: number; metrics: ThreadMetricsJson }
  /** Answered by main when the addressee is not running (starting, restarting, stopped). */
  | { type: 'undeliverable'; to: ThreadName; original: ThreadMessage };

/** What a thread's registry holds, as prom-client's `Registry.getMetricsAsJSON()` gives it. */
export type ThreadMetricsJson = Awaited<ReturnType<import('prom-client').Registry['getMetricsAsJSON']>>;

/** A container whose log a stream should carry, each line prefixed by `prefix` (e.g. `web.1`). */
export interface LogSource {
  containerId: string;
  prefix: string;
}

/** From a worker to the main thread. */
export type WorkerToMain =
  | { kind: 'ready' }
  | { kind: 'stopped' }
  | { kind: 'fatal'; error: ErrorData }
  /** An uncaught exception or unhandled rejection: the thread exits (code 1) right after. */
  | { kind: 'crashed'; error: ErrorData }
  | { kind: 'send'; to: ThreadName; body: ThreadMessage };

/** From the main thread to a worker. */
export type MainToWorker = { kind: 'stop' } | { kind: 'deliver'; from: ThreadName; body: ThreadMessage };

/** Posted on the CHANGES_CHANNEL after a commit, so other threads wake at once. */
export interface ChangeNote {
  tables: Table[];
}

export const CHANGES_CHANNEL = 'bicycle.changes';
export const LOG_CHANNEL = 'bicycle.log';

/** What each worker receives as workerData. */
export interface WorkerData {
  thread: ThreadName;
  config: import('./config').DaemonConfig;
  databaseFile: string;
  /** This node's id, made once and kept in the database's local state. */
  nodeId: string;
  /** The autolock passphrase given at start (BICYCLE_UNLOCK_KEY, --unlock-key-file); only the voting thread uses it. */
  unlockPassphrase?: string;
}
