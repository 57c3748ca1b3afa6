import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { readSecretValue } from '../secret-flags';

/** `bicycle secret create NAME FILE|-`: prints the secret's id (never its value). */
export function registerSecretCreate(secret: Command): void {
  secret
    .command('create')
    .description('create a secret from a file, or from standard input with -')
    .argument('<name>', 'the secret\'s name')
    .argument('<file>', 'the file holding the value, or - for standard input')
    .option('--json', 'print the raw JSON')
    .action(async (name: string, file: string, options: { json?: boolean }, cmd: Command) => {
      const value = readSecretValue(file);
      const created = await clientFor(cmd).createSecret(name, value);
      value.fill(0);
      if (options.json) printJson(created);
      else process.stdout.write(`${created.id}\n`);
    });
}
