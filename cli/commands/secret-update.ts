import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { readSecretValue } from '../secret-flags';

/** `bicycle secret update NAME FILE|-`: a new value; the services that mount it roll to it under their update policy. */
export function registerSecretUpdate(secret: Command): void {
  secret
    .command('update')
    .description('give a secret a new value (from a file, or standard input with -); the services that use it roll to it')
    .argument('<name>', 'the secret\'s name')
    .argument('<file>', 'the file holding the new value, or - for standard input')
    .option('--json', 'print the raw JSON')
    .action(async (name: string, file: string, options: { json?: boolean }, cmd: Command) => {
      const value = readSecretValue(file);
      const updated = await clientFor(cmd).updateSecret(name, value);
      value.fill(0);
      if (options.json) {
        printJson(updated);
        return;
      }
      const rolls = updated.services.length > 0 ? `; rolling ${updated.services.join(', ')} (see bicycle service ps)` : '';
      process.stdout.write(`${updated.name} is at version ${updated.version}${rolls}\n`);
    });
}
