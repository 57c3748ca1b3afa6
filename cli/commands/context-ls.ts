import type { Command } from 'commander';
import { readContexts } from '../context-store';
import { printJson } from '../context';
import { formatTable } from '../table';

/** `bicycle context ls [--json]`: the saved contexts, the current one starred; tokens are never printed, only whether one is saved. */
export function registerContextLs(context: Command): void {
  context
    .command('ls')
    .description('list the saved contexts (the current one marked *)')
    .option('--json', 'print the raw JSON (without tokens)')
    .action((options: { json?: boolean }) => {
      const saved = readContexts();
      const list = Object.entries(saved.contexts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, c]) => ({ name, current: saved.current === name, host: c.host, token: c.token ? 'saved' : 'none', ca: c.ca ?? null }));
      if (options.json) {
        printJson(list);
        return;
      }
      process.stdout.write(formatTable(['CURRENT', 'NAME', 'HOST', 'TOKEN', 'CA'], list.map((c) => [c.current ? '*' : '', c.name, c.host, c.token, c.ca ?? ''])));
    });
}
