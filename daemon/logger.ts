import { BroadcastChannel } from 'node:worker_threads';
import winston from 'winston';
import Transport from 'winston-transport';
import { LOG_CHANNEL } from './messages';
import type { LogRecord } from './log-format';

export type Logger = winston.Logger;

/**
 * Posts every record on the log channel; the monitoring thread writes them to
 * the console and the log file, and the REST thread streams them to `bicycle
 * logs -f`. So a thread never touches the log file itself.
 */
class ChannelTransport extends Transport {
  private readonly channel = new BroadcastChannel(LOG_CHANNEL);

  constructor() {
    super();
    (this.channel as unknown as { unref(): void }).unref();
  }

  override log(info: Record<string | symbol, unknown>, next: () => void): void {
    const record = { ...info } as unknown as LogRecord;
    this.channel.postMessage(record);
    next();
  }

  override close(): void {
    this.channel.close();
  }
}

/** A logger for one thread; use `.child({ service, task, container })` for context. */
export function createThreadLogger(thread: string, level: string, ...extra: Transport[]): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { thread },
    format: winston.format.combine(winston.format.errors({ stack: false }), winston.format.timestamp()),
    transports: extra.length > 0 ? extra : [new ChannelTransport()],
  });
}

/** Logs and drops an error only where dropping is the decision; gives it a readable message. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
