import { InvalidArgumentError, Option, type Command } from 'commander';
import type { AuditRecord } from '../api-client';
import { clientFor, printJson } from '../context';
import { durationMs } from '../parse';
import { formatTable } from '../table';

/** `--since 1h` (that long ago), or a time (2026-12-03T10:00:00Z): ms since the epoch. */
export function parseSince(text: string, now: number = Date.now()): number {
  const ago = /^(\d+)d$/.exec(text.trim()) ? Number(text.trim().slice(0, -1)) * 86_400_000 : /^\d+$/.test(text.trim()) ? null : durationMs(text);
  if (ago !== null) return now - ago;
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new InvalidArgumentError(`expected a duration ago (30m, 2h, 7d) or a time (2026-12-03T10:00:00Z), got "${text}"`);
  return at;
}

export function auditTable(records: readonly AuditRecord[]): string {
  const rows = records.map((r) => [r.at, r.actor, r.method, r.path, r.target ?? '', r.status, r.source ?? '']);
  return formatTable(['TIME', 'WHO', 'METHOD', 'PATH', 'TARGET', 'STATUS', 'FROM'], rows);
}

/** `bicycle audit [--since 1h] [--limit N] [--json]`: the write requests the node received (admin). */
export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('show the audit log of the node --host names: every write request, allowed or refused (admin)')
    .addOption(new Option('--since <when>', 'only records since then: 30m, 2h, 7d ago, or a time').argParser((t) => parseSince(t)))
    .addOption(new Option('--limit <n>', 'the newest N records at most').argParser((t) => {
      if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > 10_000) throw new InvalidArgumentError(`expected a whole number from 1 to 10000, got "${t}"`);
      return Number(t);
    }))
    .option('--json', 'print the raw JSON')
    .action(async (options: { since?: number; limit?: number; json?: boolean }, cmd: Command) => {
      const records = await clientFor(cmd).audit({ ...(options.since !== undefined ? { since: options.since } : {}), ...(options.limit !== undefined ? { limit: options.limit } : {}) });
      if (options.json) printJson(records);
      else process.stdout.write(auditTable(records));
    });
}
