import { InvalidArgumentError, Option, type Command } from 'commander';
import { clientFor, printJson } from '../context';
import { durationMs } from '../parse';

/** `--ttl 24h`, `90m`, `7d`: a lifetime in whole seconds, at least one. */
export function parseTtl(text: string): number {
  const days = /^(\d+)d$/.exec(text.trim());
  const ms = days ? Number(days[1]) * 86_400_000 : durationMs(text);
  if (ms === null || ms < 1000) throw new InvalidArgumentError(`expected a lifetime such as 24h, 90m or 7d (at least 1s), got "${text}"`);
  return Math.floor(ms / 1000);
}

/** `bicycle token create --role admin|operator|read --name NAME [--ttl 24h] [--json]`: prints the token once, on stdout. */
export function registerTokenCreate(token: Command): void {
  token
    .command('create')
    .description('make an API token; its secret is printed this once')
    .addOption(new Option('--role <role>', 'what it may do').choices(['read', 'operator', 'admin']).makeOptionMandatory())
    .requiredOption('--name <name>', 'a name for it, unique in the cluster (shown in the audit log)')
    .addOption(new Option('--ttl <duration>', 'expire after this long (24h, 90m, 7d); default never').argParser(parseTtl))
    .option('--json', 'print the raw JSON (with the token)')
    .action(async (options: { role: string; name: string; ttl?: number; json?: boolean }, cmd: Command) => {
      const created = await clientFor(cmd).createToken({ name: options.name, role: options.role, ...(options.ttl !== undefined ? { ttlSeconds: options.ttl } : {}) });
      if (options.json) {
        printJson(created);
        return;
      }
      process.stdout.write(`${created.token}\n`);
      const expiry = created.expiresAt ? `, expires ${created.expiresAt}` : '';
      process.stderr.write(`token ${created.name} (accessor ${created.accessor}, role ${created.role}${expiry}); the secret is shown only now\n`);
    });
}
