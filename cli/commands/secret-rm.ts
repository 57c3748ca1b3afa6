import type { Command } from 'commander';
import { clientFor, ExitCodeError, printError } from '../context';

/** `bicycle secret rm NAME [NAME...]`: refused for a secret that services use (the daemon names them). */
export function registerSecretRm(secret: Command): void {
  secret
    .command('rm')
    .description('remove secrets that no service uses')
    .argument('<name...>', 'secret names')
    .action(async (names: string[], _options: unknown, cmd: Command) => {
      const client = clientFor(cmd);
      let failed = false;
      for (const name of new Set(names)) {
        try {
          await client.removeSecret(name);
          process.stdout.write(`${name}\n`);
        } catch (error) {
          printError(error);
          failed = true;
        }
      }
      if (failed) throw new ExitCodeError(1);
    });
}
