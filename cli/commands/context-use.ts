import type { Command } from 'commander';
import { readContexts, writeContexts } from '../context-store';

/** `bicycle context use NAME`: the context commands use when no flag or variable says otherwise. */
export function registerContextUse(context: Command): void {
  context
    .command('use')
    .description('make a saved context the current one')
    .argument('<name>', 'the context\'s name')
    .action((name: string) => {
      const saved = readContexts();
      if (!saved.contexts[name]) {
        const known = Object.keys(saved.contexts);
        throw new Error(`no context named ${name}${known.length > 0 ? ` (there are: ${known.join(', ')})` : ''}`);
      }
      saved.current = name;
      writeContexts(saved);
      process.stdout.write(`${name}\n`);
    });
}
