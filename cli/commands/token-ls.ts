import type { Command } from 'commander';
import type { ApiToken } from '../api-client';
import { clientFor, printJson } from '../context';
import { formatTable } from '../table';

export function tokenTable(tokens: readonly ApiToken[]): string {
  const rows = tokens.map((t) => [t.accessor, t.name, t.role, t.createdAt, t.expired ? `expired ${t.expiresAt}` : (t.expiresAt ?? 'never'), t.createdBy]);
  return formatTable(['ACCESSOR', 'NAME', 'ROLE', 'CREATED', 'EXPIRES', 'CREATED BY'], rows);
}

/** `bicycle token ls [--json]`: every token, never a secret. */
export function registerTokenLs(token: Command): void {
  token
    .command('ls')
    .description('list the API tokens (accessor ids, names, roles; never the secrets)')
    .option('--json', 'print the raw JSON')
    .action(async (options: { json?: boolean }, cmd: Command) => {
      const tokens = await clientFor(cmd).listTokens();
      if (options.json) printJson(tokens);
      else process.stdout.write(tokenTable(tokens));
    });
}
