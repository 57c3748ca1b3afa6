/**
 * Plain-data types of the Raft core: log entries, persisted state, the
 * messages peers exchange, and the Ready batch the core hands to its caller.
 *
 * Every type here is plain JSON-serialisable data, so a transport can send a
 * Message as JSON and a storage can keep an Entry as a row.
 */

/** A server's id. Stable for the life of the server; never reused. */
export type NodeId = string;

/**
 * The kind of a log entry.
 * - `normal`: a command of the replicated state machine (opaque to the core).
 * - `noop`: appended by a leader as the first entry of its term (Raft §8), so
 *   it can commit entries of earlier terms and serve read-index reads.
 * - `config`: a membership change; its data is the JSON of the complete new
 *   {@link ConfState} (not a delta), so truncating it reverts cleanly.
 */
export type EntryType = 'normal' | 'noop' | 'config';

/**
 * One log entry. `data` is the command as an opaque string (JSON text by
 * convention); the core never parses `normal` entries. Indexes start at 1.
 */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: string;
}

/**
 * The state a server must persist before it answers any message (Raft §5,
 * Figure 2): its current term, whom it voted for in that term, and the commit
 * index it knows (persisting commit saves re-applying on restart; it is not
 * needed for safety).
 */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

/** The membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** Where a snapshot ends: the last entry it covers and the membership at that entry. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

/** The state machine's state up to `meta.index`, as opaque data (JSON text by convention). */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: string;
}

/** A membership change of one server at a time (Raft thesis §4.1). */
export type ConfChange =
  | { readonly type: 'addLearner'; readonly nodeId: NodeId }
  | { readonly type: 'addVoter'; readonly nodeId: NodeId }
  | { readonly type: 'removeNode'; readonly nodeId: NodeId };

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; for pre-vote messages, the term the sender would campaign in. */
  readonly term: number;
}

/** RequestVote (and its pre-vote probe). `transfer` marks a campaign started by TimeoutNow. */
export interface VoteRequest extends MessageBase {
  readonly type: 'vote' | 'preVote';
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly type: 'voteResp' | 'preVoteResp';
  readonly reject: boolean;
}

/** AppendEntries: entries follow the entry at (prevIndex, prevTerm). */
export interface AppendRequest extends MessageBase {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * The answer to an append or a snapshot. On success `index` is the last index
 * the follower now matches. On rejection `index` is the rejected prevIndex and
 * (hintIndex, hintTerm) is the follower's last entry that could still match,
 * so the leader skips a whole conflicting term per round trip.
 */
export interface AppendResponse extends MessageBase {
  readonly type: 'appendResp';
  readonly reject: boolean;
  readonly index: number;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** A heartbeat; `context` is non-empty when it also confirms leadership for a read index. */
export interface Heartbeat extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: number;
  readonly context: string;
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: 'heartbeatResp';
  readonly context: string;
}

/** InstallSnapshot, whole (snapshots of this cluster's state are small enough for one message). */
export interface SnapshotRequest extends MessageBase {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}

/** Leadership transfer: the leader tells an up-to-date target to campaign now. */
export interface TimeoutNow extends MessageBase {
  readonly type: 'timeoutNow';
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNow;

export type MessageType = Message['type'];

/** Volatile state worth showing (not persisted): who leads, and this node's role. */
export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/**
 * A read index that is ready: once the caller's state machine has applied
 * `index`, it may answer the read identified by `requestId` (Raft thesis §6.4).
 */
export interface ReadState {
  readonly requestId: string;
  readonly index: number;
}

/**
 * Everything the core asks its caller to do. The caller must, in this order:
 * 1. persist `hardState` (if set), `snapshot` (if set) and `entries`,
 *    atomically and durably;
 * 2. send `messages`;
 * 3. restore the state machine from `snapshot` (if set), then apply
 *    `committedEntries` in order;
 * 4. call `advance(ready)`.
 * `softState` and `readStates` are information; act on them at any point.
 */
export interface Ready {
  readonly softState: SoftState;
  /** Set when term, vote or commit changed since the last Ready. */
  readonly hardState: HardState | null;
  /** Entries to append to stable storage; they may overwrite a conflicting suffix. */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader, to persist (replacing the log) and restore. */
  readonly snapshot: Snapshot | null;
  readonly messages: readonly Message[];
  /** Committed entries not yet applied, in index order. */
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /**
   * Read requests this node dropped because it stopped being leader before
   * confirming them; they will never appear in readStates. Retry them on the
   * new leader.
   */
  readonly droppedReads: readonly string[];
}

/** Why the core refused a proposal, a read or a membership change. */
export type RefusalCode =
  | 'NOT_LEADER'
  | 'TRANSFER_IN_PROGRESS'
  | 'CONF_CHANGE_PENDING'
  | 'INVALID_CONF_CHANGE';

export interface Refusal {
  readonly ok: false;
  readonly code: RefusalCode;
  readonly message: string;
  /** The leader this node knows of (null if none), so the caller can forward. */
  readonly leader: NodeId | null;
}

/**
 * An accepted proposal: the entry sits at (index, term) in the leader's log.
 * It is committed when an entry at `index` with this `term` commits; it was
 * lost to a leader change when an entry at `index` commits with another term
 * (see ProposalTracker).
 */
export interface Accepted {
  readonly ok: true;
  readonly index: number;
  readonly term: number;
}

export type ProposeResult = Accepted | Refusal;

/** What a leader reports of one member's replication. */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: 'probe' | 'replicate' | 'snapshot';
}

/** A read-only view of a node, for status pages and tests. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly conf: ConfState;
  readonly leadTransferee: NodeId | null;
  /** On a leader, each member's replication progress; empty otherwise. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}
