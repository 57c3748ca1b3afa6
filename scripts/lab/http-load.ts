import { request } from 'node:http';

/** One request of a load loop: where it went, when it started and ended (ms since the epoch), and how it ended. */
export interface LoadSample {
  target: string;
  startedAt: number;
  endedAt: number;
  /** The response body (first 200 bytes), or null when the request failed. */
  body: string | null;
  error: string | null;
}

export interface LoadResult {
  samples: LoadSample[];
  ok: number;
  failed: LoadSample[];
}

export interface LoadLoop {
  /** Stops issuing requests and waits for those under way. */
  stop(): Promise<LoadResult>;
}

/** One GET on a new connection (no keep-alive: every request is a new connection, as the traffic manager sees them). */
export function getOnce(target: string, path = '/', timeoutMs = 5000): Promise<string> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent: false, timeout: timeoutMs, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A client loop: `connections` requests at a time, each a GET of `path` on
 * a new connection to the next of `targets` (host:port) in turn, until
 * stopped. Every request is recorded, so a test can say which failed, when,
 * and where they went.
 */
export function startLoad(targets: readonly string[], options: { connections: number; path?: string; timeoutMs?: number }): LoadLoop {
  const samples: LoadSample[] = [];
  let stopped = false;
  let next = 0;
  const worker = async () => {
    while (!stopped) {
      const target = targets[next++ % targets.length]!;
      const startedAt = Date.now();
      try {
        const body = await getOnce(target, options.path ?? '/', options.timeoutMs ?? 5000);
        samples.push({ target, startedAt, endedAt: Date.now(), body: body.slice(0, 200), error: null });
      } catch (error) {
        samples.push({ target, startedAt, endedAt: Date.now(), body: null, error: (error as Error).message });
      }
    }
  };
  const workers = Array.from({ length: options.connections }, () => worker());
  return {
    async stop() {
      stopped = true;
      await Promise.all(workers);
      const failed = samples.filter((s) => s.error !== null);
      return { samples, ok: samples.length - failed.length, failed };
    },
  };
}
