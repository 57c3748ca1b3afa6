/**
 * JSON answers kept by key, serialised once: at 100,000 tasks building and
 * serialising GET /state costs tens of milliseconds, answering kept bytes
 * almost nothing, and a cluster is read far more often than it changes. A
 * key names everything the answer depends on (the read version of
 * database/read-version.ts, the query, the second for uptimes), so a kept
 * answer is never stale by more than what its key rounds. Only answers of
 * the latest version are kept, at most `maxEntries` of them (past that the
 * oldest goes).
 */
export class AnswerCache {
  private readonly answers = new Map<string, Buffer>();
  private version = -1;

  constructor(private readonly maxEntries: number) {}

  /** The kept answer for `key` at `version`, or `build()`'s serialised and kept. */
  get(version: number, key: string, build: () => unknown): Buffer {
    if (version !== this.version) {
      this.answers.clear();
      this.version = version;
    }
    const kept = this.answers.get(key);
    if (kept) return kept;
    const answer = Buffer.from(JSON.stringify(build()));
    if (this.answers.size >= this.maxEntries) this.answers.delete(this.answers.keys().next().value!);
    this.answers.set(key, answer);
    return answer;
  }
}

/** Answers `k` with kept JSON bytes (the type set first: koa would call a Buffer body binary). */
export function answerJson(k: { type: string; body: unknown }, body: Buffer): void {
  k.type = 'application/json';
  k.body = body;
}
