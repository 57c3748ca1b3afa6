/**
 * Splits Docker's multiplexed log stream (8-byte frame headers: stream type,
 * three zero bytes, big-endian length) into text lines, across chunk
 * boundaries. A container started with a TTY sends raw text instead; a chunk
 * that does not start with a valid header is taken as raw text.
 */
export class LogLineSplitter {
  private frame: Buffer = Buffer.alloc(0);
  private partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    this.frame = this.frame.length > 0 ? Buffer.concat([this.frame, chunk]) : chunk;
    while (this.frame.length >= 8) {
      const type = this.frame[0]!;
      const header = type <= 2 && this.frame[1] === 0 && this.frame[2] === 0 && this.frame[3] === 0;
      if (!header) {
        this.text(this.frame.toString('utf8'));
        this.frame = Buffer.alloc(0);
        return;
      }
      const length = this.frame.readUInt32BE(4);
      if (this.frame.length < 8 + length) return;
      this.text(this.frame.subarray(8, 8 + length).toString('utf8'));
      this.frame = this.frame.subarray(8 + length);
    }
  }

  /** Emits a last line without a newline, if any. */
  flush(): void {
    // Bytes held back in case they began a frame header: at the end they can only be raw text.
    if (this.frame.length > 0) this.text(this.frame.toString('utf8'));
    this.frame = Buffer.alloc(0);
    if (this.partial) this.onLine(this.partial);
    this.partial = '';
  }

  private text(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.onLine(line);
  }
}
