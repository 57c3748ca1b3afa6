import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { LogLineSplitter } from './log-demux';
import type { LogSource, ThreadMessage } from '../messages';
import { errorMessage } from '../logger';

interface OpenStream {
  streams: Readable[];
  open: number;
}

/**
 * Serves `logs.open` requests from the REST thread: reads the log of each
 * container named in the request (the last `tail` lines, then new lines if
 * `follow`), prefixes each line with its replica (`web.2 | …`) and sends the
 * lines back as `logs.data`, then `logs.end`.
 */
export class ContainerLogStreams {
  private readonly open = new Map<string, OpenStream>();

  constructor(private readonly docker: Docker, private readonly reply: (body: ThreadMessage) => void) {}

  async start(streamId: string, sources: LogSource[], follow: boolean, tail: number): Promise<void> {
    const entry: OpenStream = { streams: [], open: sources.length };
    this.open.set(streamId, entry);
    if (sources.length === 0) return this.finish(streamId);
    const width = Math.max(...sources.map((s) => s.prefix.length));
    await Promise.all(
      sources.map(async (source) => {
        const prefix = source.prefix.padEnd(width) + ' | ';
        const send = (line: string) => this.reply({ type: 'logs.data', streamId, text: prefix + line + '\n' });
        try {
          const container = this.docker.getContainer(source.containerId);
          const options = { stdout: true, stderr: true, tail, timestamps: false } as const;
          if (!follow) {
            const buffer = (await container.logs({ ...options, follow: false })) as unknown as Buffer;
            const splitter = new LogLineSplitter(send);
            splitter.push(Buffer.from(buffer));
            splitter.flush();
            return this.sourceDone(streamId);
          }
          const stream = (await container.logs({ ...options, follow: true })) as unknown as Readable;
          if (!this.open.has(streamId)) return stream.destroy();
          entry.streams.push(stream);
          const splitter = new LogLineSplitter(send);
          stream.on('data', (chunk: Buffer) => splitter.push(chunk));
          stream.on('error', () => undefined);
          stream.on('close', () => {
            splitter.flush();
            this.sourceDone(streamId);
          });
        } catch (error) {
          send(`(no logs: ${errorMessage(error)})`);
          this.sourceDone(streamId);
        }
      }),
    );
  }

  close(streamId: string): void {
    const entry = this.open.get(streamId);
    if (!entry) return;
    this.open.delete(streamId);
    for (const stream of entry.streams) stream.destroy();
  }

  closeAll(): void {
    for (const id of [...this.open.keys()]) this.close(id);
  }

  private sourceDone(streamId: string): void {
    const entry = this.open.get(streamId);
    if (!entry) return;
    entry.open--;
    if (entry.open <= 0) this.finish(streamId);
  }

  private finish(streamId: string): void {
    this.open.delete(streamId);
    this.reply({ type: 'logs.end', streamId });
  }
}
