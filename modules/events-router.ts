import Router from '@koa/router';
import type { Db } from '../database/open-database';
import type { Command } from '../database/commands';
import { REQUEST_MEMORY_ENTRIES } from '../database/applied-requests';
import { getLocal } from '../database/queries';
import { prepared } from '../database/statements';
import { EVENT_TYPES, eventsOfEntry, matchesFilter, type ClusterEvent, type EventFilter, type EventType } from '../database/events';
import { BicycleError } from '../daemon/errors';
import type { RestContext } from './context';

/** An idle stream gets a blank line (NDJSON) or an SSE comment this often, so proxies keep it open. */
export const EVENTS_HEARTBEAT_MS = 15_000;
/** Entries read from the log at a time. */
const PAGE_ENTRIES = 100;
/** Level-triggered: a lost change note costs at most this much latency. */
const POLL_MS = 1_000;

interface EntryRow {
  log_index: number;
  term: number;
  type: string;
  data: string;
}

/**
 * GET /events: the events of the committed log after `since` (or the
 * Last-Event-ID header; absent: from now), then every new one as entries are
 * applied. NDJSON, or Server-Sent Events with `Accept: text/event-stream`.
 */
export function eventsRouter(ctx: RestContext, options: { heartbeatMs?: number; pollMs?: number } = {}): Router {
  const heartbeatMs = options.heartbeatMs ?? EVENTS_HEARTBEAT_MS;
  const pollMs = options.pollMs ?? POLL_MS;
  const router = new Router();
  router.get('/events', async (k) => {
    const sse = (k.get('Accept') ?? '').includes('text/event-stream');
    const filter = parseFilter(k.query);
    const sinceParam = k.query.since ?? (k.get('Last-Event-ID') || undefined);
    const log = new CommittedLog(ctx.db);
    const applied = log.appliedIndex();
    const sinceName = k.query.since === undefined ? 'Last-Event-ID' : 'since';
    let since = sinceParam === undefined ? applied : parseSince(sinceParam, sinceName);
    const oldest = log.oldestSince();
    if (since < oldest) {
      throw new BicycleError(
        'EVENTS_COMPACTED',
        `${sinceName}: index ${since} was compacted into a snapshot; the oldest index events can be read after is ${oldest}`,
      );
    }
    // An index beyond the applied one: nothing yet, wait for it.
    // Written straight to the response: koa piping a stream body reports a client that hangs up as an error.
    k.status = 200;
    k.type = sse ? 'text/event-stream' : 'application/x-ndjson';
    k.set('Cache-Control', 'no-cache');
    k.respond = false;
    const out = k.res;
    out.flushHeaders();

    let closed = false;
    let pumping = false;
    let again = false;
    let lastWrite = Date.now();
    const write = (text: string) => {
      lastWrite = Date.now();
      out.write(text);
    };
    const send = (event: ClusterEvent) => {
      const json = JSON.stringify(event);
      write(sse ? `id: ${event.index}\nevent: ${event.type}\ndata: ${json}\n\n` : json + '\n');
    };
    /**
     * Sends every applied entry after `since`, a page at a time: between pages it yields to the event loop
     * and waits while the client's buffer is full, so a long replay neither blocks the thread nor piles up.
     */
    const drain = async () => {
      if (out.writableNeedDrain && !closed) {
        await new Promise<void>((resolve) => {
          const done = () => {
            out.off('drain', done);
            out.off('close', done);
            resolve();
          };
          out.on('drain', done);
          out.on('close', done);
        });
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    };
    const pumpOnce = async () => {
      do {
        again = false;
        for (;;) {
          const page = log.read(since, PAGE_ENTRIES);
          if (page === 'gap') {
            // The log was compacted past where this reader is (or replaced by a snapshot): say so and end.
            const error = { code: 'EVENTS_COMPACTED', message: `the log no longer holds the entries after ${since}; read again from ${log.oldestSince()}` };
            write(sse ? `event: error\ndata: ${JSON.stringify({ error })}\n\n` : JSON.stringify({ error }) + '\n');
            return stop();
          }
          for (const event of page.events) if (matchesFilter(event, filter)) send(event);
          since = page.through;
          if (!page.more) break;
          await drain();
          if (closed) return;
        }
      } while (again && !closed);
    };
    const pump = () => {
      if (closed) return;
      if (pumping) return void (again = true);
      pumping = true;
      pumpOnce()
        .catch((error: unknown) => {
          ctx.log.warn('events stream failed', { error: (error as Error).message });
          stop();
        })
        .finally(() => (pumping = false));
    };
    const unsubscribe = ctx.changes.subscribe(pump);
    const poll = setInterval(pump, pollMs);
    const heartbeat = setInterval(() => {
      if (Date.now() - lastWrite >= heartbeatMs - 50) write(sse ? ': heartbeat\n\n' : '\n');
    }, Math.min(heartbeatMs, 5_000));
    function stop() {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(poll);
      clearInterval(heartbeat);
      out.end();
    }
    k.req.on('close', stop);
    out.on('close', stop);
    out.on('error', stop);
    pump();
  });
  return router;
}

/** The committed log as this node's database holds it, up to the applied index (never an entry not yet applied). */
class CommittedLog {
  private readonly taskServices = new Map<string, string>();
  /** The `since` of the first read: entries after it are learned as they are read. */
  private startedAfter: number | undefined;
  private scannedEarlier = false;

  /** One value of a one-row query (`SELECT … AS v`), through the connection's statement cache. */
  private value<T>(sql: string, ...args: unknown[]): T | undefined {
    return (prepared(this.db, sql).get(...args) as { v: T } | undefined)?.v;
  }

  constructor(private readonly db: Db) {}

  appliedIndex(): number {
    return Number(getLocal(this.db, 'applied_index') ?? 0);
  }

  /** The smallest `since` the log can still serve: the index before its first entry (or the snapshot's index). */
  oldestSince(): number {
    const first = this.value<number | null>('SELECT MIN(log_index) AS v FROM raft_entries') ?? null;
    if (first !== null) return first - 1;
    const snap = this.value<number>('SELECT log_index AS v FROM raft_snapshot WHERE id = 0');
    return snap ?? this.appliedIndex();
  }

  /** The events of up to `limit` applied entries after `since`, read in one read transaction. */
  read(since: number, limit: number): { events: ClusterEvent[]; through: number; more: boolean } | 'gap' {
    this.startedAfter ??= since;
    return this.db.transaction(() => {
      const applied = this.appliedIndex();
      if (applied <= since) return { events: [], through: since, more: false };
      const rows = prepared(this.db, 'SELECT log_index, term, type, data FROM raft_entries WHERE log_index > ? AND log_index <= ? ORDER BY log_index LIMIT ?').all(
        since,
        applied,
        limit,
      ) as EntryRow[];
      if (rows.length === 0 || rows[0]!.log_index !== since + 1) return 'gap' as const;
      const events: ClusterEvent[] = [];
      for (const row of rows) {
        if (row.type !== 'normal') continue;
        const command = JSON.parse(row.data) as Command;
        if (this.isRetry(command, row.log_index)) continue;
        this.learn(command);
        events.push(...eventsOfEntry({ index: row.log_index, term: row.term, command }, (id) => this.serviceOfTask(id)));
      }
      const through = rows[rows.length - 1]!.log_index;
      return { events, through, more: through < applied };
    })();
  }

  /**
   * A retried request's second entry: applied once (database/applied-requests.ts), so it gives no events.
   * The first application of the request id is remembered with its index for REQUEST_MEMORY_ENTRIES entries.
   */
  private isRetry(command: Command, index: number): boolean {
    if (!command.request) return false;
    const first = this.value<number>('SELECT log_index AS v FROM applied_requests WHERE request_id = ?', command.request.id);
    return first !== undefined && first < index && index - first < REQUEST_MEMORY_ENTRIES;
  }

  private learn(command: Command): void {
    if (command.type === 'batch') for (const inner of command.commands) this.learn(inner);
    else if (command.type === 'task.create') this.taskServices.set(command.id, command.serviceName);
  }

  /**
   * A task's service never changes: from the tasks read so far, the tasks table, or (for a task gone from
   * the table) its creation in the log before where this reader started, scanned once per reader at the
   * first such task (a pruning batch removes thousands: one scan, not one each).
   */
  private serviceOfTask(taskId: string): string | undefined {
    const known = this.taskServices.get(taskId);
    if (known !== undefined) return known;
    const service = this.value<string>('SELECT service_name AS v FROM tasks WHERE id = ?', taskId);
    if (service !== undefined) {
      this.taskServices.set(taskId, service);
      return service;
    }
    if (!this.scannedEarlier && this.startedAfter !== undefined) {
      this.scannedEarlier = true;
      const creating = prepared(this.db, "SELECT data FROM raft_entries WHERE type = 'normal' AND log_index <= ? AND instr(data, '\"task.create\"') > 0");
      for (const row of creating.iterate(this.startedAfter) as IterableIterator<{ data: string }>) this.learn(JSON.parse(row.data) as Command);
    }
    return this.taskServices.get(taskId);
  }
}

function parseSince(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new BicycleError('INVALID_ARGUMENT', `${name}: must be a log index, a whole number from 0`);
  return n;
}

function parseFilter(query: Record<string, unknown>): EventFilter {
  const filter: EventFilter = {};
  const one = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw new BicycleError('INVALID_ARGUMENT', `${name}: must be given once, not empty`);
    return value;
  };
  const type = one('type');
  if (type !== undefined) {
    if (!(EVENT_TYPES as readonly string[]).includes(type)) {
      throw new BicycleError('INVALID_ARGUMENT', `type: must be one of ${EVENT_TYPES.join(', ')}`);
    }
    filter.type = type as EventType;
  }
  for (const name of ['service', 'task', 'node', 'action'] as const) {
    const value = one(name);
    if (value !== undefined) filter[name] = value;
  }
  return filter;
}
