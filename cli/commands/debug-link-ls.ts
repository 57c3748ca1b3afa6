import type { Command } from 'commander';
import type { DebugLink } from '../api-client';
import { clientFor, printJson } from '../context';
import { formatTable } from '../table';

export function linkTable(links: readonly DebugLink[]): string {
  return formatTable(['PEER', 'NAME', 'ADDRESS', 'DIRECTION', 'SINCE'], links.map((l) => [l.peerId, l.name, l.address, l.direction, l.since]));
}

/** `bicycle debug link ls [--json]`: the links this node has cut (bicycled --debug-links). */
export function registerDebugLinkLs(link: Command): void {
  link
    .command('ls')
    .description('list the links this node has cut')
    .option('--json', 'print the raw JSON')
    .action(async (options: { json?: boolean }, cmd: Command) => {
      const links = await clientFor(cmd).listLinks();
      if (options.json) printJson(links);
      else process.stdout.write(linkTable(links));
    });
}
