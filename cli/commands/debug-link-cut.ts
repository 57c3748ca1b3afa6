import { Option, type Command } from 'commander';
import { clientFor, printJson } from '../context';
import { linkTable } from './debug-link-ls';

/** `bicycle debug link cut PEER [--direction both|in|out]`: this node stops talking to PEER, as across a partition. */
export function registerDebugLinkCut(link: Command): void {
  link
    .command('cut')
    .description('cut this node\'s link to a peer (its Raft messages, forwarded requests and node-to-node requests are dropped); needs bicycled --debug-links')
    .argument('<peer>', 'the peer\'s node id or name')
    .addOption(new Option('--direction <direction>', 'both, in (drop what the peer sends here) or out (drop what this node sends it)').choices(['both', 'in', 'out']).default('both'))
    .option('--json', 'print the raw JSON')
    .action(async (peer: string, options: { direction: 'both' | 'in' | 'out'; json?: boolean }, cmd: Command) => {
      const links = await clientFor(cmd).changeLink({ peer, state: 'cut', direction: options.direction });
      if (options.json) printJson(links);
      else process.stdout.write(linkTable(links));
    });
}
