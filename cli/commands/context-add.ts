import type { Command } from 'commander';
import { CONTEXT_NAME_PATTERN, contextFilePath, readContexts, writeContexts, type SavedContext } from '../context-store';
import { normaliseHost } from '../host';

/** `bicycle context add NAME --host H [--token T] [--ca FILE] [--use]`: saves (or replaces) a context. */
export function registerContextAdd(context: Command): void {
  context
    .command('add')
    .description('save a context: a cluster\'s address, and the token and CA to reach it with')
    .argument('<name>', 'the context\'s name')
    // --host and --token are the program's own options (the global ones), given here on the command line.
    .option('--ca <file>', 'CA certificate (PEM) to trust for this cluster')
    .option('--use', 'make it the current context')
    .addHelpText('after', '\nGive --host (required) and --token as for any command: bicycle context add prod --host https://10.0.0.1:7070 --token BAT1-…')
    .action((name: string, options: { ca?: string; use?: boolean }, cmd: Command) => {
      if (!CONTEXT_NAME_PATTERN.test(name)) throw new Error(`context name "${name}": must be 1-63 letters, digits, _ . - starting with a letter or digit`);
      let root = cmd;
      while (root.parent) root = root.parent;
      const global = root.opts<{ host?: string; token?: string; ca?: string }>();
      if (root.getOptionValueSource('host') !== 'cli') throw new Error('context add needs --host: where the cluster\'s daemon listens (host:port or https://host:port)');
      const token = root.getOptionValueSource('token') === 'cli' ? global.token : undefined;
      const ca = options.ca ?? (root.getOptionValueSource('ca') === 'cli' ? global.ca : undefined);
      const saved = readContexts();
      const entry: SavedContext = { host: normaliseHost(global.host) };
      if (token) entry.token = token;
      if (ca) entry.ca = ca;
      const replaced = saved.contexts[name] !== undefined;
      saved.contexts[name] = entry;
      if (options.use || saved.current === null) saved.current = name;
      writeContexts(saved);
      process.stdout.write(`${name}\n`);
      process.stderr.write(`${replaced ? 'replaced' : 'saved'} context ${name} in ${contextFilePath()}${saved.current === name ? ' (current)' : ''}\n`);
    });
}
