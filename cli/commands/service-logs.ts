import { once } from 'node:events';
import type { Command } from 'commander';
import { ApiError } from '../api-client';
import { clientFor } from '../context';
import { logsQuery, parseTail } from '../parse';

/** A record of `GET /services/:name/logs?format=ndjson` (docs/logs.md). */
export type ServiceLogRecord =
  | { type: 'line'; replica: string; node: string | null; text: string }
  | { type: 'lost'; replica: string; node: string | null; at: number; replacement: { replica: string; node: string | null } }
  | { type: 'removed'; service: string };

/** `HH:MM:SS` in this process's time zone: the user's. */
function localClock(at: number): string {
  const d = new Date(at);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/**
 * Renders one NDJSON record as the line a user reads: `web.1 | …` (the
 * replica names padded to the widest seen so far, kept in `layout`), the
 * loss marker with the time in the user's time zone, the last line of a
 * removed service. A line that is not a record is shown as it came.
 */
export function renderLogRecord(json: string, layout: { width: number }, clock: (at: number) => string = localClock): string {
  let record: ServiceLogRecord;
  try {
    record = JSON.parse(json) as ServiceLogRecord;
  } catch {
    return json;
  }
  const node = (name: string | null) => name ?? '(no node)';
  switch (record.type) {
    case 'line':
      layout.width = Math.max(layout.width, record.replica.length);
      return `${record.replica.padEnd(layout.width)} | ${record.text}`;
    case 'lost':
      return `--- ${record.replica} on ${node(record.node)}: lost at ${clock(record.at)}, replaced by ${record.replacement.replica} on ${node(record.replacement.node)} ---`;
    case 'removed':
      return `--- service ${record.service} removed ---`;
    default:
      return json;
  }
}

/** `bicycle service logs NAME [-f] [--tail N]` */
export function registerServiceLogs(service: Command): void {
  service
    .command('logs')
    .description("print a service's container logs, each line prefixed by its replica; -f follows replacements too")
    .argument('<name>', 'service name')
    .option('-f, --follow', 'keep printing new lines, of replicas that start later too, until interrupted or the service is removed')
    .option('--tail <n>', 'start with the last N lines of each replica', parseTail)
    .action(async (name: string, options: { follow?: boolean; tail?: number }, cmd: Command) => {
      const client = clientFor(cmd);
      const query = logsQuery(options);
      const body = await client.stream(`/services/${encodeURIComponent(name)}/logs${query ? `${query}&` : '?'}format=ndjson`);
      const layout = { width: 0 };
      const decoder = new TextDecoder();
      let rest = '';
      const print = async (lines: string[]) => {
        const text = lines.map((l) => renderLogRecord(l, layout) + '\n').join('');
        if (text && !process.stdout.write(text)) await once(process.stdout, 'drain');
      };
      try {
        for await (const chunk of body) {
          const lines = (rest + decoder.decode(chunk, { stream: true })).split('\n');
          rest = lines.pop()!;
          await print(lines.filter((l) => l !== ''));
        }
      } catch (err) {
        throw new ApiError('UNREACHABLE', `lost the connection to bicycled at ${client.baseUrl}: ${(err as Error).message}`, 0);
      }
      if (rest) await print([rest]);
    });
}
