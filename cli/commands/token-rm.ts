import type { Command } from 'commander';
import { clientFor } from '../context';

/** `bicycle token rm ACCESSOR|NAME...`: revokes at once, on every node. */
export function registerTokenRm(token: Command): void {
  token
    .command('rm')
    .description('remove (revoke) API tokens, by accessor id or name')
    .argument('<token...>', 'accessor ids or names')
    .action(async (ids: string[], _options: unknown, cmd: Command) => {
      const client = clientFor(cmd);
      for (const id of ids) {
        const removed = await client.removeToken(id);
        process.stdout.write(`${removed.removed}\n`);
      }
    });
}
