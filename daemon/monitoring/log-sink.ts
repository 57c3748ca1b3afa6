import { BroadcastChannel } from 'node:worker_threads';
import { join } from 'node:path';
import winston from 'winston';
import { LOG_CHANNEL } from '../messages';
import { formatLogLine, type LogRecord } from '../log-format';

export const LOG_FILE_NAME = 'bicycled.log';
const MAX_FILE_BYTES = 10 * 1024 * 1024;
const MAX_FILES = 5;

/**
 * The daemon log's one writer: every thread's records arrive on the log
 * channel and go to the console (human lines) and to `bicycled.log` in the
 * data directory (one JSON record a line, rotated by size, the newest always
 * under the same name so that `GET /logs` can tail it).
 */
export class LogSink {
  private readonly channel = new BroadcastChannel(LOG_CHANNEL);
  readonly logger: winston.Logger;

  constructor(dataDir: string, level: string) {
    const human = winston.format.printf((info) => formatLogLine(info as unknown as LogRecord));
    const ensureTimestamp = winston.format((info) => {
      info.timestamp ??= new Date().toISOString();
      return info;
    });
    this.logger = winston.createLogger({
      level,
      format: ensureTimestamp(),
      transports: [
        new winston.transports.Console({ format: human }),
        new winston.transports.File({
          filename: join(dataDir, LOG_FILE_NAME),
          maxsize: MAX_FILE_BYTES,
          maxFiles: MAX_FILES,
          tailable: true,
          format: winston.format.json(),
        }),
      ],
    });
    this.channel.onmessage = (event) => {
      const record = (event as { data: LogRecord }).data;
      this.logger.log({ ...record, level: record.level, message: record.message });
    };
  }

  /** A logger for the monitoring thread itself, writing straight to the sink. */
  child(meta: Record<string, unknown>): winston.Logger {
    return this.logger.child({ thread: 'monitoring', ...meta });
  }

  async close(): Promise<void> {
    this.channel.close();
    await new Promise<void>((resolve) => {
      this.logger.on('finish', () => resolve());
      this.logger.end();
      setTimeout(resolve, 1000).unref();
    });
  }
}
