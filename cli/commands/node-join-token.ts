import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import type { JoinToken } from '../types';

/**
 * How a new host joins with this token: the daemon's own hint
 * (`--join <its advertised address> --token TOKEN`) after the flags every
 * joining host needs.
 */
export function joinHint(answer: JoinToken): string {
  const join = answer.join ?? `--join <this node's address> --token ${answer.token}`;
  return `bicycled --name NAME --advertise HOST:PORT ${join}`;
}

/** `bicycle node join-token [--rotate] [--json]` */
export function registerNodeJoinToken(node: Command): void {
  node
    .command('join-token')
    .description('print the token a new host needs to join the cluster')
    .option('--rotate', 'replace the token with a new one: the old one admits nobody from then on')
    .option('--json', 'print the raw JSON')
    .action(async (options: { json?: boolean; rotate?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const answer = options.rotate ? await client.rotateJoinToken() : await client.getJoinToken();
      if (options.json) {
        printJson(answer);
        return;
      }
      process.stdout.write(`${answer.token}\n`);
      process.stderr.write(`join a new host with: ${joinHint(answer)}\n`);
    });
}
