import { randomBytes } from 'node:crypto';
import type { Command } from '../database/commands';
import type { ApplyResult } from '../database/apply-command';
import { BicycleError, fromErrorData, toErrorData } from './errors';
import type { JoinGrant, JoinRequest, MembershipRequest, ThreadMessage, VotingReply, VotingRequest } from './messages';
import { sendTo } from './thread-runtime';

type Pending = { resolve(r: VotingReply): void; reject(e: Error): void; timer: NodeJS.Timeout };

/**
 * What any thread asks of the voting thread: propose a command, pass a read
 * barrier, admit a joining node, change membership. Each call resolves once
 * the voting thread answers; it rejects with the voting thread's error
 * (NO_LEADER, …), with UNAVAILABLE when the voting thread is not running, and
 * with TIMEOUT when no answer comes in time.
 */
export class VotingClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /**
   * `send` posts a request to the voting thread (through main, the default);
   * its replies come back through `handle`.
   */
  constructor(
    private readonly timeoutMs = 30_000,
    private readonly send: (message: Extract<ThreadMessage, { type: 'voting.request' }>) => void = (message) => sendTo('voting', message),
  ) {}

  /** Commits `command` and resolves with its apply result once this node has applied it. */
  async propose(command: Command, options: { forwarded?: boolean } = {}): Promise<ApplyResult> {
    return (await this.proposeWithIndex(command, options)).result;
  }

  /**
   * A command without a request id gets one here (this call is its first
   * proposer: the deployment thread's batches), so a forward the leader
   * receives twice still applies once. A caller that retries tags the
   * command itself, once, before its first attempt (the REST thread).
   */
  async proposeWithIndex(command: Command, options: { forwarded?: boolean } = {}): Promise<{ result: ApplyResult; index: number }> {
    const tagged: Command = command.request ? command : { ...command, request: { id: `p:${randomBytes(12).toString('hex')}` } };
    const reply = await this.ask({ kind: 'propose', command: tagged, forwarded: options.forwarded ?? false }, command.type);
    return { result: reply.result!, index: reply.index ?? 0 };
  }

  /** Resolves once this node's state includes every write committed before the call; returns that index. */
  async readBarrier(options: { forwarded?: boolean } = {}): Promise<number> {
    return (await this.ask({ kind: 'read', forwarded: options.forwarded ?? false }, 'read')).index ?? 0;
  }

  async join(join: JoinRequest, options: { forwarded?: boolean } = {}): Promise<JoinGrant> {
    return (await this.ask({ kind: 'join', join, forwarded: options.forwarded ?? false }, 'join')).grant!;
  }

  async changeMembership(change: MembershipRequest): Promise<void> {
    await this.ask({ kind: 'membership', change }, `membership ${change.action}`);
  }

  /** Any request, its reply as data (errors included): what a peer's forwarded request gets back. */
  async raw(request: VotingRequest): Promise<VotingReply> {
    try {
      return await this.ask(request, request.kind);
    } catch (error) {
      return { ok: false, error: toErrorData(error) };
    }
  }

  private ask(request: VotingRequest, what: string): Promise<Extract<VotingReply, { ok: true }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BicycleError('TIMEOUT', `the cluster did not answer ${what} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, {
        resolve: (reply) => (reply.ok ? resolve(reply) : reject(fromErrorData(reply.error))),
        reject,
        timer,
      });
      this.send({ type: 'voting.request', id, request });
    });
  }

  /** Feed every message delivered to this thread; returns true if it was for this client. */
  handle(message: ThreadMessage): boolean {
    if (message.type === 'voting.reply') {
      this.settle(message.id, (p) => p.resolve(message.reply));
      return true;
    }
    if (message.type === 'undeliverable' && message.original.type === 'voting.request') {
      this.settle(message.original.id, (p) => p.reject(new BicycleError('UNAVAILABLE', 'the voting thread is restarting; try again shortly')));
      return true;
    }
    return false;
  }

  /** Fails every pending request (thread stopping). */
  close(): void {
    for (const id of [...this.pending.keys()]) {
      this.settle(id, (p) => p.reject(new BicycleError('UNAVAILABLE', 'bicycled is stopping')));
    }
  }

  private settle(id: number, action: (p: Pending) => void): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(id);
    action(entry);
  }
}
