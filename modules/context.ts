import type { Readable } from 'node:stream';
import type { Db } from '../database/open-database';
import type { Command } from '../database/commands';
import type { ApplyResult } from '../database/apply-command';
import type { ChangeNotes } from '../daemon/changes';
import type { Logger } from '../daemon/logger';
import type { LogRecord } from '../daemon/log-format';
import type { LogSource } from '../daemon/messages';
import type { VotingClient } from '../daemon/voting-client';
import { BicycleError } from '../daemon/errors';
import { parseFlag } from './validation';
import { tagWithRequest } from './idempotency';
import type { LifecycleDefaults } from './present-lifecycle';
import type { AuthMode } from './auth';

/** What the REST modules need from their thread: reads, propose, change notes and log streams. Never Docker. */
export interface RestContext {
  db: Db;
  propose(command: Command): Promise<ApplyResult>;
  /** The voting thread: read barriers, joins, membership, forwarded requests. */
  voting: Pick<VotingClient, 'readBarrier' | 'join' | 'changeMembership' | 'raw'>;
  /** Hands Raft messages from a peer to the voting thread. */
  deliverRaft(messages: unknown[], fromAddress: string | null): void;
  changes: ChangeNotes;
  log: Logger;
  dataDir: string;
  /** This node's advertised address (where others reach it). */
  advertise: string;
  now(): number;
  /** deployment.maxReplicas: replicas in the whole cluster, at most (DEFAULT_MAX_REPLICAS when absent). */
  maxReplicas?: number;
  /** What a service's lifecycle leaves out takes (deployment.updateParallelism, deployment.stopGracePeriodMs); DEFAULT_LIFECYCLE when absent. */
  lifecycleDefaults?: LifecycleDefaults;
  /** `auth` of config.json (modules/auth.ts): `auto` when absent. */
  auth?: AuthMode;
  /** Streams the logs of these containers (through the monitoring thread) as text lines. */
  containerLogs(sources: LogSource[], follow: boolean, tail: number): Readable;
  /** Calls `listener` with every daemon log record from now on; returns the unsubscribe function. */
  followDaemonLog(listener: (record: LogRecord) => void): () => void;
  /**
   * How this node reaches a peer's REST listener for a node-to-node stream
   * (a container log): undefined in clear HTTP (loopback, --insecure), else
   * an https agent presenting this node's certificate (daemon/tls/peer-tls.ts).
   */
  peerHttpsAgent?(): import('node:https').Agent;
  /** The other threads' metrics in Prometheus' text format, for GET /metrics (daemon/metrics/collector.ts); none when absent. */
  threadMetrics?(): Promise<string>;
}

/** With `?consistent=true`, waits until this node has applied every write committed before the request (a read index). */
export async function readBarrier(ctx: RestContext, query: Record<string, unknown>): Promise<void> {
  if (parseFlag(query.consistent, 'consistent', false)) await ctx.voting.readBarrier();
}

/**
 * Proposes, tagged with the HTTP request's id (so that however often it is
 * retried it applies once), and turns a refused command into its error.
 */
export async function proposeOrThrow(ctx: RestContext, command: Command): Promise<void> {
  const result = await ctx.propose(tagWithRequest(command));
  if (!result.ok) throw new BicycleError(result.error.code, result.error.message);
}

/**
 * Resolves once `done()` holds, re-checking on every change note and every
 * 250 ms; resolves false when `timeoutMs` passes first.
 */
export function waitUntil(ctx: RestContext, done: () => boolean, timeoutMs: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const check = () => {
      if (!done()) return;
      finish(true);
    };
    const unsubscribe = ctx.changes.subscribe(check);
    const poll = setInterval(check, 250);
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(value: boolean) {
      unsubscribe();
      clearInterval(poll);
      clearTimeout(timer);
      resolve(value);
    }
  });
}
