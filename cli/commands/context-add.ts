import type { Command } from 'commander';
import { CONTEXT_NAME_PATTERN, contextFilePath, readContexts, writeContexts, type SavedContext } from '../context-store';
import { normaliseHost } from '../host';

/** `bicycle context add NAME --host H [--token T] [--ca FILE] [--use]`: saves (or replaces) a context. */
export function registerContextAdd(context: Command): void {
  context
    .command('add')
    .description('save a context: a cluster\'s address, and the token and CA to reach it with')
    .argument('<name>', 'the context\'s name')
    .requiredOption('--host <host>', 'daemon address: host:port or http(s)://host:port')
    .option('--token <token>', 'API token (BAT1-…)')
    .option('--ca <file>', 'CA certificate (PEM) to trust for this cluster')
    .option('--use', 'make it the current context')
    .action((name: string, options: { host: string; token?: string; ca?: string; use?: boolean }) => {
      if (!CONTEXT_NAME_PATTERN.test(name)) throw new Error(`context name "${name}": must be 1-63 letters, digits, _ . - starting with a letter or digit`);
      const saved = readContexts();
      const entry: SavedContext = { host: normaliseHost(options.host) };
      if (options.token) entry.token = options.token;
      if (options.ca) entry.ca = options.ca;
      const replaced = saved.contexts[name] !== undefined;
      saved.contexts[name] = entry;
      if (options.use || saved.current === null) saved.current = name;
      writeContexts(saved);
      process.stdout.write(`${name}\n`);
      process.stderr.write(`${replaced ? 'replaced' : 'saved'} context ${name} in ${contextFilePath()}${saved.current === name ? ' (current)' : ''}\n`);
    });
}
