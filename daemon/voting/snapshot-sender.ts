import { createHash } from 'node:crypto';
import type { NodeId, SnapshotRequest } from './raft/index';
import type { Logger } from '../logger';
import { errorMessage } from '../logger';
import type { PeerHttp } from '../tls/peer-tls';

import { PEER_ADDRESS_HEADER, SNAPSHOT_PREFIX } from '../cluster-protocol';

/** Where a peer receives a snapshot in chunks (modules/snapshot-receive.ts). */
export const SNAPSHOT_PATH = SNAPSHOT_PREFIX.slice(0, -1);

/** A chunk's size: under the API's 1 MiB body limit, and small enough that a slow link finishes one within the request timeout. */
export const SNAPSHOT_CHUNK_BYTES = 512 * 1024;

export interface SnapshotSenderOptions {
  http: Pick<PeerHttp, 'scheme' | 'fetch'>;
  selfAddress: string;
  secret(): string | undefined;
  log: Logger;
  chunkBytes?: number;
  /** One chunk's request. */
  requestTimeoutMs?: number;
  /** Failed requests in a row after which the transfer is given up (Raft sends the snapshot again later, and it resumes). */
  maxFailures?: number;
  /** The pause after a failure, times the failures in a row. */
  retryPauseMs?: number;
  /** True while the link to this peer is cut outward (`--debug-links`): every chunk is lost as on a dead link. */
  dropsOutgoing?(to: NodeId): boolean;
}

/** What one transfer did: whether it ended installed, and how many bytes it sent (resumed chunks are not sent again). */
export interface SnapshotTransfer {
  ok: boolean;
  sentBytes: number;
  totalBytes: number;
  resumedAt: number;
}

/**
 * Sends an InstallSnapshot message to a peer in chunks, resumably: the
 * message (JSON) is cut into chunks posted in order with their offset, the
 * total and the whole text's SHA-256; the receiver appends them to a file
 * and hands the message to its Raft core once the last one is in and the
 * hash matches. Before sending, and after every failure, the sender asks
 * how much the receiver already holds and goes on from there, so a lossy
 * or slow link, or a leader that gives up and sends the same snapshot
 * again, does not start from zero. One transfer per peer at a time; the
 * same snapshot asked for again while it is under way is the same transfer.
 */
export class SnapshotSender {
  private readonly inFlight = new Map<NodeId, { id: string; done: Promise<SnapshotTransfer> }>();

  constructor(private readonly o: SnapshotSenderOptions) {}

  /** The transfer of `message` to `address`; resolves (never rejects) once it is installed there or given up. */
  send(address: string, message: SnapshotRequest): Promise<SnapshotTransfer> {
    const id = snapshotId(message);
    const current = this.inFlight.get(message.to);
    if (current?.id === id) return current.done;
    const done = this.transfer(address, id, message).finally(() => {
      if (this.inFlight.get(message.to)?.id === id) this.inFlight.delete(message.to);
    });
    this.inFlight.set(message.to, { id, done });
    return done;
  }

  private async transfer(address: string, id: string, message: SnapshotRequest): Promise<SnapshotTransfer> {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    const sha256 = createHash('sha256').update(body).digest('hex');
    const chunk = this.o.chunkBytes ?? SNAPSHOT_CHUNK_BYTES;
    const query = `total=${body.length}&sha256=${sha256}`;
    const url = `${this.o.http.scheme}://${address}${SNAPSHOT_PATH}/${encodeURIComponent(id)}`;
    let failures = 0;
    let sentBytes = 0;
    let offset: number | undefined;
    let resumedAt = 0;
    const started = Date.now();
    while (failures < (this.o.maxFailures ?? 10)) {
      try {
        if (this.o.dropsOutgoing?.(message.to)) throw new Error(`the link to ${address} is cut (POST /debug/links)`);
        if (offset === undefined) {
          offset = (await this.call(url + `?${query}`, { method: 'GET' })).received;
          if (sentBytes === 0) resumedAt = offset;
        }
        if (offset >= body.length) break;
        const piece = body.subarray(offset, Math.min(body.length, offset + chunk));
        const answer = await this.call(url + `?${query}&offset=${offset}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: piece });
        sentBytes += piece.length;
        offset = answer.received;
        failures = 0;
        if (answer.installed) {
          this.o.log.info('sent a snapshot in chunks', { peer: message.to, index: message.snapshot.meta.index, bytes: body.length, sent: sentBytes, resumedAt, ms: Date.now() - started });
          return { ok: true, sentBytes, totalBytes: body.length, resumedAt };
        }
      } catch (error) {
        failures++;
        offset = undefined; // ask again how much arrived
        this.o.log.warn('a snapshot chunk did not get through; resuming', { peer: message.to, index: message.snapshot.meta.index, failures, error: errorMessage(error) });
        await new Promise((r) => setTimeout(r, (this.o.retryPauseMs ?? 200) * failures));
      }
    }
    return { ok: false, sentBytes, totalBytes: body.length, resumedAt };
  }

  private async call(url: string, init: RequestInit): Promise<{ received: number; installed?: boolean }> {
    const secret = this.o.secret();
    if (!secret) throw new Error('this node has no cluster secret yet');
    const res = await this.o.http.fetch(url, {
      ...init,
      headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${secret}`, [PEER_ADDRESS_HEADER]: this.o.selfAddress },
      signal: AbortSignal.timeout(this.o.requestTimeoutMs ?? 10_000),
    });
    const answer = (await res.json().catch(() => undefined)) as { received?: number; installed?: boolean; error?: { message: string } } | undefined;
    // 409: the receiver holds another amount than this offset; it says how much, and the transfer goes on from there.
    if (res.status === 409 && typeof answer?.received === 'number') return { received: answer.received };
    if (!res.ok || typeof answer?.received !== 'number') throw new Error(`${url.split('?')[0]} answered ${res.status}${answer?.error ? `: ${answer.error.message}` : ''}`);
    return { received: answer.received, installed: answer.installed };
  }
}

/** A snapshot's name in a transfer: its term and index (a leader's snapshot at an index never changes). */
export function snapshotId(message: SnapshotRequest): string {
  return `${message.snapshot.meta.term}-${message.snapshot.meta.index}-${message.from}`;
}
