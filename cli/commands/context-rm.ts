import type { Command } from 'commander';
import { readContexts, writeContexts } from '../context-store';

/** `bicycle context rm NAME...`: forgets contexts (and their tokens); removing the current one leaves none current. */
export function registerContextRm(context: Command): void {
  context
    .command('rm')
    .description('remove saved contexts')
    .argument('<name...>', 'the contexts\' names')
    .action((names: string[]) => {
      const saved = readContexts();
      for (const name of names) if (!saved.contexts[name]) throw new Error(`no context named ${name}`);
      for (const name of names) {
        delete saved.contexts[name];
        if (saved.current === name) saved.current = null;
      }
      writeContexts(saved);
      process.stdout.write(names.map((n) => `${n}\n`).join(''));
    });
}
