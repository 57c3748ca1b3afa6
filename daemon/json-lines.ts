import type { Readable } from 'node:stream';

/**
 * Calls `onValue` with each JSON value of a newline-delimited JSON stream
 * (the engine's event stream), across chunk boundaries. A line that is not
 * JSON is skipped: nothing could be done with it.
 */
export function onJsonLines(stream: Readable, onValue: (value: unknown) => void): void {
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (!line) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        continue;
      }
      onValue(value);
    }
  });
}
