import type { RaftStorage } from './storage';
import type { NodeId } from './types';

/**
 * How to build a Raft node. Times are in ticks: the caller calls `tick()` at
 * a fixed interval (the voting thread uses 100 ms), so the defaults mean a
 * heartbeat every 100 ms and an election timeout drawn from 500–900 ms.
 */
export interface RaftConfig {
  /** This server's id; never 0-like or empty. */
  readonly id: NodeId;
  /** The persisted state; the node reads it, the caller writes it (Ready contract). */
  readonly storage: RaftStorage;
  /**
   * Voters of a brand-new cluster. Used only when storage is empty: the node
   * then writes this membership as entry 1 (term 1, committed). Every founding
   * member must be given the same list. A server joining an existing cluster
   * passes none and waits for the leader to send it the log.
   */
  readonly peers?: readonly NodeId[];
  /** Non-voting members of a brand-new cluster (see `peers`). */
  readonly learners?: readonly NodeId[];
  /**
   * The index the caller's state machine has already applied (it records it
   * with the applied data). Defaults to the snapshot index. Must not exceed
   * the persisted commit index.
   */
  readonly applied?: number;
  /**
   * A uniformly distributed number in [0, 1): the only randomness of the
   * core, used to spread election timeouts. Inject a seeded generator in
   * tests; `Math.random` in the daemon.
   */
  readonly random: () => number;
  /** Minimum election timeout; the actual one is drawn from [electionTicks, 2 * electionTicks). Default 5. */
  readonly electionTicks?: number;
  /** Heartbeat interval; must be less than electionTicks. Default 1. */
  readonly heartbeatTicks?: number;
  /**
   * Heartbeat interval to learners, a multiple of nothing in particular but at
   * least heartbeatTicks. Learners take no part in elections, commits or
   * reads, so their heartbeats only say the leader lives and let a lagging
   * one be probed; new commits still reach them at once (every commit
   * advance broadcasts an append). Default: heartbeatTicks.
   */
  readonly learnerHeartbeatTicks?: number;
  /** Pre-vote (Raft thesis §9.6): do not raise the term unless a majority would vote. Default true. */
  readonly preVote?: boolean;
  /**
   * Check-quorum (thesis §6.2): a leader steps down when it has not heard from
   * a majority within electionTicks; followers that heard from a leader within
   * electionTicks ignore vote requests (leader stickiness). Default true.
   */
  readonly checkQuorum?: boolean;
  /** Entries per append message. Default 256. */
  readonly maxEntriesPerMessage?: number;
  /**
   * The entries' data per append message, in characters (etcd's
   * MaxSizePerMsg): an append stops before the entry that would pass it,
   * but always carries at least one. Default 256 KiB, so that a batch of
   * messages fits a peer's 1 MiB request or stream line.
   */
  readonly maxBytesPerMessage?: number;
  /** Unacknowledged append messages per follower while replicating. Default 64. */
  readonly maxInflightMessages?: number;
  /** Committed entries handed out per Ready. Default 1024. */
  readonly maxCommittedPerReady?: number;
  /**
   * Their data per Ready, in characters (at least one entry): what the shell
   * applies between two turns of its event loop. Default 1 MiB.
   */
  readonly maxCommittedBytesPerReady?: number;
}

export interface ResolvedRaftConfig extends Required<Omit<RaftConfig, 'applied'>> {
  readonly applied: number | undefined;
}

export const DEFAULT_ELECTION_TICKS = 5;
export const DEFAULT_HEARTBEAT_TICKS = 1;

/** Fill in defaults and reject settings that cannot work; messages name the option. */
export function resolveConfig(config: RaftConfig): ResolvedRaftConfig {
  const resolved: ResolvedRaftConfig = {
    id: config.id,
    storage: config.storage,
    peers: config.peers ?? [],
    learners: config.learners ?? [],
    applied: config.applied,
    random: config.random,
    electionTicks: config.electionTicks ?? DEFAULT_ELECTION_TICKS,
    heartbeatTicks: config.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS,
    learnerHeartbeatTicks: config.learnerHeartbeatTicks ?? config.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS,
    preVote: config.preVote ?? true,
    checkQuorum: config.checkQuorum ?? true,
    maxEntriesPerMessage: config.maxEntriesPerMessage ?? 256,
    maxBytesPerMessage: config.maxBytesPerMessage ?? 256 * 1024,
    maxInflightMessages: config.maxInflightMessages ?? 64,
    maxCommittedPerReady: config.maxCommittedPerReady ?? 1024,
    maxCommittedBytesPerReady: config.maxCommittedBytesPerReady ?? 1024 * 1024,
  };
  if (resolved.id === '') throw new Error('raft config: id must be a non-empty string');
  if (!Number.isInteger(resolved.heartbeatTicks) || resolved.heartbeatTicks < 1) {
    throw new Error(`raft config: heartbeatTicks must be an integer >= 1, got ${resolved.heartbeatTicks}`);
  }
  if (!Number.isInteger(resolved.electionTicks) || resolved.electionTicks <= resolved.heartbeatTicks) {
    throw new Error(
      `raft config: electionTicks must be an integer greater than heartbeatTicks (${resolved.heartbeatTicks}), got ${resolved.electionTicks}`,
    );
  }
  if (!Number.isInteger(resolved.learnerHeartbeatTicks) || resolved.learnerHeartbeatTicks < resolved.heartbeatTicks) {
    throw new Error(`raft config: learnerHeartbeatTicks must be an integer >= heartbeatTicks (${resolved.heartbeatTicks}), got ${resolved.learnerHeartbeatTicks}`);
  }
  for (const [name, value] of [
    ['maxEntriesPerMessage', resolved.maxEntriesPerMessage],
    ['maxBytesPerMessage', resolved.maxBytesPerMessage],
    ['maxInflightMessages', resolved.maxInflightMessages],
    ['maxCommittedPerReady', resolved.maxCommittedPerReady],
    ['maxCommittedBytesPerReady', resolved.maxCommittedBytesPerReady],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`raft config: ${name} must be an integer >= 1, got ${value}`);
  }
  const overlap = resolved.peers.filter((id) => resolved.learners.includes(id));
  if (overlap.length > 0) throw new Error(`raft config: ${overlap.join(', ')} listed both in peers and learners`);
  return resolved;
}
