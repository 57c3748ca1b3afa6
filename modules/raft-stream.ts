import { StringDecoder } from 'node:string_decoder';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Db } from '../database/open-database';
import { PEER_ADDRESS_HEADER, RAFT_STREAM_PATH, RAFT_STREAM_PROTOCOL, type ErrorAnswer } from '../daemon/cluster-protocol';
import { authenticatePeer, raftBatchRefusal, revokedReason } from './peer-identity';
import { isCutInbound, type InboundLinkCuts } from './debug-links';

export interface RaftStreamServerOptions {
  db: Db;
  cuts: InboundLinkCuts;
  /** Hands a batch to the voting thread (RestContext.deliverRaft). */
  deliver(messages: unknown[], fromAddress: string | null): void;
  /** The longest line (one batch) read; a longer one closes the stream. */
  maxLineBytes: number;
}

/**
 * The API listener's `upgrade` handler: the server side of the Raft stream
 * (daemon/cluster-protocol.ts, RAFT_STREAM_PATH). The upgrade is
 * authenticated as a POST to RAFT_PATH is (modules/peer-identity.ts), and
 * every batch is checked again as a POST's would be: a node removed since
 * (its certificate revoked) is refused, a message from another node than
 * the certificate's is refused, and while the link from the peer is cut
 * (--debug-links) the connection is dropped unanswered, as across a
 * partition. Any other upgrade is answered 404. `close` ends the streams
 * (an HTTP server's close does not wait for upgraded connections).
 */
export function raftStreamServer(o: RaftStreamServerOptions): { upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void; close(): void } {
  const open = new Set<Duplex>();
  return {
    upgrade(req, socket, head) {
      socket.on('error', () => socket.destroy());
      const path = (req.url ?? '').split('?')[0];
      if (path !== RAFT_STREAM_PATH || String(req.headers.upgrade ?? '').toLowerCase() !== RAFT_STREAM_PROTOCOL) {
        return refuse(socket, 404, 'NOT_FOUND', `no stream ${req.url ?? ''} for Upgrade: ${String(req.headers.upgrade ?? '')}`);
      }
      const connection = req.socket as Socket;
      const claimed = (req.headers[PEER_ADDRESS_HEADER] as string | undefined) || undefined;
      if (isCutInbound(o.db, o.cuts, connection, claimed)) return void socket.destroy();
      const check = authenticatePeer(o.db, connection, req.headers.authorization);
      if (!check.ok) return refuse(socket, check.code === 'UNAUTHENTICATED' ? 401 : 403, check.code, check.message);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${RAFT_STREAM_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`);
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      (socket as Socket).setNoDelay?.(true);
      let buffered = head.length > 0 ? head.toString('utf8') : '';
      const answer = (reply: ErrorAnswer | Record<string, never>) => socket.write(`${JSON.stringify(reply)}\n`);
      const take = (line: string) => {
        if (isCutInbound(o.db, o.cuts, connection, claimed)) return socket.destroy();
        const revoked = check.peerNodeId === undefined ? undefined : revokedReason(o.db, check.peerNodeId);
        if (revoked) {
          answer({ error: { code: 'PERMISSION_DENIED', message: revoked } });
          return socket.end();
        }
        let messages: unknown;
        try {
          messages = JSON.parse(line);
        } catch {
          messages = undefined;
        }
        const refusal = raftBatchRefusal(messages, check.peerNodeId);
        if (refusal) return answer({ error: refusal });
        o.deliver(messages as unknown[], claimed ?? null);
        answer({});
      };
      const read = (chunk: string) => {
        buffered += chunk;
        let end: number;
        while ((end = buffered.indexOf('\n')) >= 0 && !socket.destroyed) {
          const line = buffered.slice(0, end);
          buffered = buffered.slice(end + 1);
          take(line);
        }
        if (buffered.length > o.maxLineBytes) {
          answer({ error: { code: 'INVALID_ARGUMENT', message: `a Raft batch longer than ${o.maxLineBytes} bytes` } });
          socket.end();
        }
      };
      // Bytes decoded here: an HTTP server's socket refuses setEncoding, even once upgraded.
      const decoder = new StringDecoder('utf8');
      socket.on('data', (chunk: Buffer) => read(decoder.write(chunk)));
      if (buffered) {
        const first = buffered;
        buffered = '';
        read(first);
      }
    },
    close() {
      for (const socket of open) socket.destroy();
      open.clear();
    },
  };
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } } satisfies ErrorAnswer);
  const reason = status === 404 ? 'Not Found' : status === 401 ? 'Unauthorized' : 'Forbidden';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
