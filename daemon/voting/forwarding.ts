import { toErrorData, type ErrorData } from '../errors';
import type { VotingReply, VotingRequest } from '../cluster-protocol';
import type { PeerHttp } from '../tls/peer-tls';
import type { NodeId } from './raft/index';
import { askPeer } from './peer-client';

/**
 * Forwarding to the leader (docs/voting.md, "Forwarding"): a follower sends
 * a proposal, a read barrier, a join or a membership change to the leader
 * over the node-to-node API, one hop only, and then waits until it has
 * applied the index the leader answered, so that what the caller reads next
 * on this node includes its write. Every wait is bounded and a wait that
 * runs out answers an error that says so; none resolves silently.
 */

/** Where a follower sends a request, or why it cannot. */
export type ForwardTarget = { readonly ok: true; readonly leader: NodeId; readonly address: string; readonly secret: string } | { readonly ok: false; readonly error: ErrorData };

/**
 * A request that already came forwarded is not forwarded again (the sender
 * thought this node led: leadership moved); without a known leader, or its
 * address, or the cluster secret, there is nowhere to send it yet. All
 * answer NO_LEADER (retryable).
 */
export function forwardTarget(facts: { forwarded: boolean; leader: NodeId | null; address: string | undefined; secret: string | undefined }): ForwardTarget {
  if (facts.forwarded) return refuse('NO_LEADER', 'this node is not the leader any more; retry');
  if (!facts.leader) return refuse('NO_LEADER', 'no leader is elected yet; retry shortly');
  if (!facts.address || !facts.secret) return refuse('NO_LEADER', `the leader ${facts.leader} cannot be reached yet; retry shortly`);
  return { ok: true, leader: facts.leader, address: facts.address, secret: facts.secret };
}

/** What an index this node waits to apply stands for: the leader's answer to a write, or to a read barrier. */
export type AppliedWait = { readonly what: 'write' | 'read'; readonly leader: string; readonly index: number };

/**
 * The answer when this node has not applied `wait.index` within `waitedMs`
 * (it lags the leader): TIMEOUT (retryable, but not retried by the REST
 * thread). A write did commit: the message says so, so that it is read back
 * rather than repeated. A read barrier is not served from a node that lags.
 */
export function appliedTimeout(wait: AppliedWait, applied: number, waitedMs: number): ErrorData {
  const lag = `this node has applied only up to index ${applied} after waiting ${waitedMs} ms (it lags the leader)`;
  if (wait.what === 'write') {
    return { code: 'TIMEOUT', message: `the leader ${wait.leader} committed the write at index ${wait.index}, but ${lag}; the write took effect: read it back, do not repeat it` };
  }
  return { code: 'TIMEOUT', message: `the leader ${wait.leader} answered the read at index ${wait.index}, but ${lag}; retry the read, or read from the leader` };
}

/** The answer to a wait cut short by the daemon stopping. */
export function stoppedWaiting(wait: AppliedWait): ErrorData {
  return { code: 'UNAVAILABLE', message: `bicycled is stopping before this node applied index ${wait.index} (${wait.what === 'write' ? 'the write committed' : 'a read'} on the leader ${wait.leader})` };
}

/** Runs `fn` after `ms` without keeping the process alive; returns a cancel. A test passes its own clock. */
export type Schedule = (fn: () => void, ms: number) => () => void;

export const unrefSchedule: Schedule = (fn, ms) => {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

type Waiter = { index: number; settle(outcome: 'applied' | 'timeout' | 'stopped'): void };

/** Callers waiting until this node has applied an index; `release()` after each apply. */
export class AppliedWaiters {
  private waiters: Waiter[] = [];

  constructor(
    private readonly applied: () => number,
    private readonly schedule: Schedule = unrefSchedule,
  ) {}

  /** Settles 'applied' once this node has applied `index`, 'timeout' after `timeoutMs`, 'stopped' on close. */
  wait(index: number, timeoutMs: number): Promise<'applied' | 'timeout' | 'stopped'> {
    if (this.applied() >= index) return Promise.resolve('applied');
    return new Promise((resolve) => {
      let cancel = (): void => undefined;
      const waiter: Waiter = {
        index,
        settle: (outcome) => {
          cancel();
          resolve(outcome);
        },
      };
      this.waiters.push(waiter);
      cancel = this.schedule(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve('timeout');
      }, timeoutMs);
    });
  }

  /**
   * Waits for `wait.index` and answers null once applied, else the error
   * that says why not (appliedTimeout, stoppedWaiting).
   */
  async until(wait: AppliedWait, timeoutMs: number): Promise<ErrorData | null> {
    const outcome = await this.wait(wait.index, timeoutMs);
    if (outcome === 'applied') return null;
    if (outcome === 'stopped') return stoppedWaiting(wait);
    return appliedTimeout(wait, this.applied(), timeoutMs);
  }

  release(): void {
    if (this.waiters.length === 0) return;
    const applied = this.applied();
    const ready = this.waiters.filter((w) => w.index <= applied);
    this.waiters = this.waiters.filter((w) => w.index > applied);
    for (const w of ready) w.settle('applied');
  }

  close(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w.settle('stopped');
  }
}

export interface ForwarderOptions {
  /** How requests reach peers: mutual TLS, or clear HTTP with --insecure. */
  http: PeerHttp;
  /** This node's advertised address, sent along. */
  selfAddress: string;
  /** How long a forward waits for the leader's answer, and then for this node to apply what it answered. */
  timeoutMs: number;
  /** The leader this node follows, if any. */
  leader(): NodeId | null;
  addressOf(id: NodeId): string | undefined;
  secret(): string | undefined;
  /** How a node is named in messages (e.g. `host-1 (id a1b2)`). */
  nameOf(id: NodeId): string;
  /** True while the link to `id` is cut outward (`--debug-links`). */
  cut?(id: NodeId): boolean;
  waiters: AppliedWaiters;
  /** The request itself (askPeer; a test passes a stand-in). */
  ask?: typeof askPeer;
}

/** A follower's side of forwarding: send to the leader, then wait to apply what it answered. */
export class Forwarder {
  constructor(private readonly o: ForwarderOptions) {}

  /** One hop to the leader; what the leader answers, or why it could not be asked (NO_LEADER, UNAVAILABLE naming the leader and the wait). */
  async forward(request: VotingRequest, forwarded: boolean): Promise<VotingReply> {
    const leader = this.o.leader();
    const target = forwardTarget({ forwarded, leader, address: leader ? this.o.addressOf(leader) : undefined, secret: this.o.secret() });
    if (!target.ok) return { ok: false, error: target.error };
    const ask = this.o.ask ?? askPeer;
    try {
      return await ask(this.o.http, target.address, target.secret, request, this.o.timeoutMs, {
        selfAddress: this.o.selfAddress,
        cut: this.o.cut?.(target.leader) ?? false,
        peerName: this.o.nameOf(target.leader),
      });
    } catch (error) {
      return { ok: false, error: toErrorData(error) };
    }
  }

  /**
   * Forwards a write or a read barrier and answers once this node has
   * applied the index the leader answered; TIMEOUT, naming the leader, the
   * index and the wait, when it has not within the timeout.
   */
  async forwardAndWait(request: VotingRequest & { kind: 'propose' | 'read' }, forwarded: boolean): Promise<VotingReply> {
    // The leader asked (an answer with an index comes only from one that was known when the forward left).
    const leader = this.o.leader();
    const reply = await this.forward(request, forwarded);
    if (!reply.ok || !reply.index || !leader) return reply;
    const wait: AppliedWait = { what: request.kind === 'propose' ? 'write' : 'read', leader: this.o.nameOf(leader), index: reply.index };
    const error = await this.o.waiters.until(wait, this.o.timeoutMs);
    return error ? { ok: false, error } : reply;
  }
}

function refuse(code: ErrorData['code'], message: string): ForwardTarget {
  return { ok: false, error: { code, message } };
}
