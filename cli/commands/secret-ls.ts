import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { formatTable } from '../table';
import type { Secret } from '../types';

/** NAME, ID, VERSION, UPDATED, SERVICES: never a value. */
export function secretTable(secrets: readonly Secret[]): string {
  const rows = [...secrets]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => [s.name, s.id.slice(0, 12), s.version, s.updatedAt, s.services.length > 0 ? s.services.join(',') : '-']);
  return formatTable(['NAME', 'ID', 'VERSION', 'UPDATED', 'SERVICES'], rows);
}

/** `bicycle secret ls [--json]` */
export function registerSecretLs(secret: Command): void {
  secret
    .command('ls')
    .description('list secrets (names, versions and the services that use them; never values)')
    .option('--json', 'print the raw JSON')
    .action(async (options: { json?: boolean }, cmd: Command) => {
      const secrets = await clientFor(cmd).listSecrets();
      if (options.json) printJson(secrets);
      else process.stdout.write(secretTable(secrets));
    });
}
