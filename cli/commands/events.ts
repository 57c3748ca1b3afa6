import { once } from 'node:events';
import { InvalidArgumentError, type Command } from 'commander';
import { clientFor } from '../context';
import { parseKeyValue } from '../parse';
import { ApiError } from '../api-client';

/** What GET /events sends, one per line (docs/events.md). */
export interface EventLine {
  index: number;
  time: string;
  type: string;
  action: string;
  service?: string;
  task?: string;
  node?: string;
  attributes?: Record<string, unknown>;
  error?: { code: string; message: string };
}

const FILTER_KEYS = ['type', 'service', 'task', 'node', 'action'];

/** `--filter service=web`, repeatable; one value per key (the last wins). */
export function collectFilter(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const [key, value] = parseKeyValue(text);
  if (!FILTER_KEYS.includes(key)) throw new InvalidArgumentError(`filter must be one of ${FILTER_KEYS.join(', ')}, got "${key}"`);
  return { ...previous, [key]: value };
}

function parseSince(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`since must be a log index (a whole number 0 or more), got "${text}"`);
  return Number(text.trim());
}

export function eventsPath(options: { since?: number; filter?: Record<string, string> }): string {
  const query = new URLSearchParams();
  if (options.since !== undefined) query.set('since', String(options.since));
  for (const [key, value] of Object.entries(options.filter ?? {})) query.set(key, value);
  const text = query.toString();
  return `/events${text ? '?' + text : ''}`;
}

/** One line as `docker events` prints it: `2026-12-02T12:00:00.000Z service update web (index=42, replicas=3)`. */
export function formatEvent(event: EventLine): string {
  const subject = event.type === 'task' ? event.task : event.type === 'node' ? event.node : event.service;
  const extra = [`index=${event.index}`];
  if (event.type === 'task' && event.service !== undefined) extra.push(`service=${event.service}`);
  if (event.type !== 'node' && event.node !== undefined) extra.push(`node=${event.node}`);
  for (const [key, value] of Object.entries(event.attributes ?? {})) extra.push(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `${event.time} ${event.type} ${event.action}${subject === undefined ? '' : ' ' + subject} (${extra.join(', ')})`;
}

/** `bicycle events [--since N] [--filter K=V]... [--json]`: the cluster's events, then new ones until interrupted. */
export function registerEvents(program: Command): void {
  program
    .command('events')
    .description("print the cluster's events from the committed log, then new ones as they happen")
    .option('--since <index>', 'start after this log index (default: only new events)', parseSince)
    .option('--filter <key=value>', `only matching events (${FILTER_KEYS.join(', ')}); repeatable`, collectFilter)
    .option('--json', 'one JSON object per line, as the daemon sends them')
    .action(async (options: { since?: number; filter?: Record<string, string>; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const body = await client.stream(eventsPath(options));
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let at: number;
          while ((at = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, at).trim();
            buffer = buffer.slice(at + 1);
            if (!line) continue; // a heartbeat
            const event = JSON.parse(line) as EventLine;
            if (event.error) throw new ApiError(event.error.code, event.error.message, 410);
            const text = options.json ? line : formatEvent(event);
            if (!process.stdout.write(text + '\n')) await once(process.stdout, 'drain');
          }
        }
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw new ApiError('UNREACHABLE', `lost the connection to bicycled at ${client.baseUrl}: ${(err as Error).message}`, 0);
      }
    });
}
