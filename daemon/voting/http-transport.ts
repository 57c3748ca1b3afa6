import type { Message, NodeId } from './raft/index';
import type { Logger } from '../logger';
import { errorMessage } from '../logger';
import { UpgradeRefused, type PeerHttp } from '../tls/peer-tls';
import { RAFT_PATH, RAFT_STREAM_PATH, RAFT_STREAM_PROTOCOL, PEER_ADDRESS_HEADER } from '../cluster-protocol';
import { RaftStream } from './raft-stream';
import { SnapshotSender } from './snapshot-sender';
import type { SnapshotRequest } from './raft/index';

/** Sends the Raft core's messages to peers. Never blocks and never throws: Raft tolerates loss. */
export interface Transport {
  send(messages: readonly Message[]): void;
  close(): void;
}

export interface HttpTransportOptions {
  /** How requests reach peers: mutual TLS, or clear HTTP with --insecure. */
  http: PeerHttp;
  /** This node's advertised address, sent along so peers can answer before they know it. */
  selfAddress: string;
  /** The cluster secret every peer request carries; undefined until this node has one. */
  secret(): string | undefined;
  /** A peer's advertised address (host:port), if known. */
  addressOf(id: NodeId): string | undefined;
  /** A peer could not be reached (Raft stops streaming to it and probes). */
  onUnreachable(id: NodeId): void;
  /** A snapshot message was delivered (ok) or not. */
  onSnapshotSent(id: NodeId, ok: boolean): void;
  log: Logger;
  /** True while the link to this peer is cut outward (`--debug-links`): its batches are lost as on a dead link. */
  dropsOutgoing?(id: NodeId): boolean;
  /** Messages kept per peer while a request is under way; beyond it the oldest are dropped. */
  maxQueuedPerPeer?: number;
  /** Messages per request. */
  maxBatch?: number;
  /** A batch's JSON at most (at least one message goes), within a peer's 1 MiB request and stream line; default MAX_BATCH_BYTES. */
  maxBatchBytes?: number;
  requestTimeoutMs?: number;
  /** A snapshot's chunk size (default SNAPSHOT_CHUNK_BYTES). */
  snapshotChunkBytes?: number;
  /** Batches over one long-lived stream per peer (default, where `http` can upgrade), or a POST each. */
  streams?: boolean;
  now?: () => number;
}

interface Peer {
  queue: Message[];
  busy: boolean;
  failing: boolean;
  /** The peer's Raft stream, for the address it was opened to. */
  stream?: { address: string; stream: RaftStream };
  /** Until then batches are POSTed: the peer did not switch to the stream (a node from before streams). */
  postUntil: number;
}

/** How long a peer that does not know the Raft stream is sent POSTs before the stream is tried again (it may have been upgraded). */
const POST_FALLBACK_MS = 60_000;

/**
 * Raft messages over HTTP: one JSON batch at a time per peer, on its Raft
 * stream (RaftStream), or as a POST to a peer without one; messages queued
 * meanwhile go in the next batch.
 * The queue is bounded, so a dead peer cannot grow memory: the oldest
 * messages are dropped (Raft retransmits what matters). A snapshot goes
 * apart, in resumable chunks (SnapshotSender), beside the batches.
 */
export class HttpTransport implements Transport {
  private readonly peers = new Map<NodeId, Peer>();
  private closed = false;
  private readonly snapshots: SnapshotSender;

  constructor(private readonly o: HttpTransportOptions) {
    this.snapshots = new SnapshotSender({ http: o.http, selfAddress: o.selfAddress, secret: o.secret, log: o.log, chunkBytes: o.snapshotChunkBytes, dropsOutgoing: o.dropsOutgoing });
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    const max = this.o.maxQueuedPerPeer ?? 4096;
    const touched = new Set<NodeId>();
    for (const m of messages) {
      if (m.type === 'snapshot') {
        this.sendSnapshot(m);
        continue;
      }
      let peer = this.peers.get(m.to);
      if (!peer) this.peers.set(m.to, (peer = { queue: [], busy: false, failing: false, postUntil: 0 }));
      peer.queue.push(m);
      if (peer.queue.length > max) peer.queue.splice(0, peer.queue.length - max);
      touched.add(m.to);
    }
    for (const id of touched) void this.flush(id);
  }

  private async flush(id: NodeId): Promise<void> {
    // After close() the peers are gone: a flush that resumes from its pause finds none and ends.
    const peer = this.peers.get(id);
    if (!peer || peer.busy || peer.queue.length === 0 || this.closed) return;
    peer.busy = true;
    const body = takeBatch(peer.queue, this.o.maxBatch ?? 256, this.o.maxBatchBytes ?? MAX_BATCH_BYTES);
    try {
      const address = this.o.addressOf(id);
      const secret = this.o.secret();
      if (!address) throw new Error(`no address known for ${id}`);
      if (!secret) throw new Error('this node has no cluster secret yet');
      // A cut link loses the batch before it leaves, and Raft hears the peer is unreachable, as after a timeout.
      if (this.o.dropsOutgoing?.(id)) throw new Error(`the link to ${address} is cut (POST /debug/links)`);
      await this.deliver(peer, address, secret, body);
      if (peer.failing) this.o.log.info('peer reachable again', { peer: id });
      peer.failing = false;
    } catch (error) {
      // Closed meanwhile (the batch in flight failed because of it): nothing to report.
      if (this.closed) return;
      if (!peer.failing) this.o.log.warn('peer unreachable', { peer: id, error: errorMessage(error) });
      peer.failing = true;
      this.o.onUnreachable(id);
      // A failing peer gets what is queued now only after a pause, not in a tight loop.
      if (!this.closed) await new Promise((r) => setTimeout(r, 100));
    } finally {
      peer.busy = false;
    }
    void this.flush(id);
  }

  /** One batch to the peer: over its stream, else (no streams, or a peer without them) as a POST. */
  private async deliver(peer: Peer, address: string, secret: string, body: string): Promise<void> {
    const headers = { authorization: `Bearer ${secret}`, [PEER_ADDRESS_HEADER]: this.o.selfAddress };
    const timeoutMs = this.o.requestTimeoutMs ?? 2000;
    const upgrade = this.o.http.upgrade?.bind(this.o.http);
    if (upgrade && this.o.streams !== false && (this.o.now ?? Date.now)() >= peer.postUntil) {
      if (peer.stream?.address !== address) {
        peer.stream?.stream.close();
        const url = `${this.o.http.scheme}://${address}${RAFT_STREAM_PATH}`;
        peer.stream = { address, stream: new RaftStream({ open: () => upgrade(url, RAFT_STREAM_PROTOCOL, headers, timeoutMs), timeoutMs }) };
      }
      try {
        return await peer.stream.stream.send(body);
      } catch (error) {
        // Any answer but 101: a node from before streams (404, or 401 from its API's token check). A refusal that is
        // really about this node (a bad secret, a revoked certificate) comes back from the POST as well.
        if (!(error instanceof UpgradeRefused)) throw error;
        this.o.log.info('peer did not take the Raft stream; sending it POSTs', { address, answer: error.status });
        peer.postUntil = (this.o.now ?? Date.now)() + POST_FALLBACK_MS;
      }
    }
    const res = await this.o.http.fetch(`${this.o.http.scheme}://${address}${RAFT_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${address} answered ${res.status}`);
  }

  /** A snapshot to `m.to`, in chunks; Raft hears how it went (onSnapshotSent) once it is installed there or given up. */
  private sendSnapshot(m: SnapshotRequest): void {
    const address = this.o.addressOf(m.to);
    if (!address || this.o.dropsOutgoing?.(m.to)) {
      this.o.onUnreachable(m.to);
      this.o.onSnapshotSent(m.to, false);
      return;
    }
    void this.snapshots.send(address, m).then((transfer) => {
      if (this.closed) return;
      if (!transfer.ok) this.o.onUnreachable(m.to);
      this.o.onSnapshotSent(m.to, transfer.ok);
    });
  }

  close(): void {
    this.closed = true;
    for (const peer of this.peers.values()) peer.stream?.stream.close();
    this.peers.clear();
    this.o.http.close();
  }
}

/** 768 KiB: a batch leaves room within the 1 MiB a peer reads as one request or stream line. */
export const MAX_BATCH_BYTES = 768 * 1024;

/**
 * Takes messages off the front of `queue` into one batch's JSON: at most
 * `maxMessages`, and no more than `maxBytes` of JSON unless one message alone
 * is larger (it then goes by itself).
 */
export function takeBatch(queue: Message[], maxMessages: number, maxBytes: number): string {
  const parts: string[] = [];
  let bytes = 2;
  let taken = 0;
  while (taken < queue.length && taken < maxMessages) {
    const part = JSON.stringify(queue[taken]);
    if (taken > 0 && bytes + part.length + 1 > maxBytes) break;
    parts.push(part);
    bytes += part.length + 1;
    taken++;
  }
  queue.splice(0, taken);
  return `[${parts.join(',')}]`;
}
