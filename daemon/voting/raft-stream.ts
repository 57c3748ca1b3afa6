import { StringDecoder } from 'node:string_decoder';
import type { Duplex } from 'node:stream';

export interface RaftStreamOptions {
  /** Opens the connection: the upgrade request answered 101 (RAFT_STREAM_PATH), or a rejection (UpgradeRefused when answered otherwise, daemon/tls/peer-tls.ts). */
  open(): Promise<Duplex>;
  /** How long a batch may wait for its answer before the connection is taken for dead. */
  timeoutMs: number;
}

interface Waiting {
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One peer's Raft batches over one long-lived connection (the protocol is
 * in daemon/cluster-protocol.ts, RAFT_STREAM_PATH): a batch is a line out,
 * its answer a line back, in order. `send` settles as a POST would: when
 * the peer handed the batch to Raft, or with an error when it refused it,
 * the connection failed, or no answer came within `timeoutMs` (then the
 * connection is dropped, as a partition would leave it, and the next batch
 * opens a new one). A frame costs a write and a read on an open socket,
 * where a POST costs a request through the HTTP stack: at one heartbeat a
 * second per idle worker, that is most of what idle nodes cost the leader.
 */
export class RaftStream {
  private socket: Duplex | undefined;
  private opening: Promise<Duplex> | undefined;
  private readonly waiting: Waiting[] = [];
  private buffered = '';
  private closed = false;

  constructor(private readonly o: RaftStreamOptions) {}

  /** Sends one batch (a JSON array, without a newline). */
  async send(batchJson: string): Promise<void> {
    const socket = await this.connection();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(socket, new Error(`no answer to a Raft batch within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      this.waiting.push({ resolve, reject, timer });
      socket.write(`${batchJson}\n`);
    });
  }

  close(): void {
    this.closed = true;
    if (this.socket) this.fail(this.socket, new Error('the Raft stream is closed'));
  }

  private async connection(): Promise<Duplex> {
    if (this.closed) throw new Error('the Raft stream is closed');
    if (this.socket) return this.socket;
    this.opening ??= this.o.open().finally(() => (this.opening = undefined));
    const socket = await this.opening;
    if (this.closed) {
      socket.destroy();
      throw new Error('the Raft stream is closed');
    }
    if (this.socket !== socket) this.attach(socket);
    return socket;
  }

  private attach(socket: Duplex): void {
    this.socket = socket;
    this.buffered = '';
    const decoder = new StringDecoder('utf8');
    socket.on('data', (chunk: Buffer) => this.read(socket, decoder.write(chunk)));
    socket.on('error', (error: Error) => this.fail(socket, error));
    socket.on('close', () => this.fail(socket, new Error('the peer closed the Raft stream')));
  }

  private read(socket: Duplex, chunk: string): void {
    this.buffered += chunk;
    let end: number;
    while ((end = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 1);
      const waiting = this.waiting.shift();
      if (!waiting) return this.fail(socket, new Error('the peer answered a Raft batch it was not sent'));
      clearTimeout(waiting.timer);
      const refusal = refusalOf(line);
      if (refusal) waiting.reject(new Error(refusal));
      else waiting.resolve();
    }
  }

  /** The connection is done: every batch waiting on it fails, and the next one opens another. */
  private fail(socket: Duplex, error: Error): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    socket.destroy();
    for (const waiting of this.waiting.splice(0)) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
  }
}

/** An answer line's refusal (`{"error":{"code","message"}}`), or undefined when the batch was taken (`{}`). */
function refusalOf(line: string): string | undefined {
  let answer: { error?: { code?: unknown; message?: unknown } };
  try {
    answer = JSON.parse(line) as typeof answer;
  } catch {
    return `the peer answered a Raft batch with something that is not JSON: ${line.slice(0, 100)}`;
  }
  if (!answer.error) return undefined;
  return `the peer refused a Raft batch: ${String(answer.error.code)}: ${String(answer.error.message)}`;
}
