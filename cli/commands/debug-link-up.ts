import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { linkTable } from './debug-link-ls';

/** `bicycle debug link up PEER`: the link to PEER works again, both ways. */
export function registerDebugLinkUp(link: Command): void {
  link
    .command('up')
    .description('bring this node\'s link to a peer up again (both ways)')
    .argument('<peer>', 'the peer\'s node id or name')
    .option('--json', 'print the raw JSON')
    .action(async (peer: string, options: { json?: boolean }, cmd: Command) => {
      const links = await clientFor(cmd).changeLink({ peer, state: 'up' });
      if (options.json) printJson(links);
      else process.stdout.write(linkTable(links));
    });
}
