/**
 * The Raft consensus core of the voting thread: a pure state machine (Raft),
 * its storage interface with in-memory and SQLite implementations, and a
 * helper to learn the outcome of proposals. See docs/voting.md.
 */
export { Raft } from './raft';
export { DEFAULT_ELECTION_TICKS, DEFAULT_HEARTBEAT_TICKS, type RaftConfig } from './config';
export {
  CompactedError,
  LogGapError,
  RaftStorageError,
  SnapshotOutOfDateError,
  UnavailableError,
  parseConfState,
  type InitialState,
  type RaftStorage,
} from './storage';
export { RaftInvariantError } from './raft-log';
export { MemoryStorage } from './memory-storage';
export { SqliteRaftStorage, createRaftTables } from './sqlite-storage';
export { ProposalTracker, type ProposalOutcome } from './proposal-tracker';
export type * from './types';
