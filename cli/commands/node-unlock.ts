import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { clientFor, printJson } from '../context';

/**
 * `bicycle node unlock [--passphrase-file FILE]`: opens the node's secrets
 * key, locked by its autolock passphrase (docs/security.md, "Autolock").
 * The passphrase is read from the file, or from standard input (the first
 * line), never from the command line, where `ps` would show it.
 */
export function registerNodeUnlock(node: Command): void {
  node
    .command('unlock')
    .description('open this node\'s secrets key with its autolock passphrase (read from standard input, or --passphrase-file)')
    .option('--passphrase-file <file>', 'read the passphrase from the first line of this file')
    .option('--json', 'print the raw JSON')
    .action(async (options: { passphraseFile?: string; json?: boolean }, cmd: Command) => {
      const passphrase = readPassphrase(options.passphraseFile);
      const state = await clientFor(cmd).unlockNode(passphrase);
      if (options.json) printJson(state);
      else process.stdout.write('unlocked: secrets can be created and mounted on this node\n');
    });

  node
    .command('lock-status')
    .description('whether this node\'s secrets key is locked by an autolock passphrase')
    .option('--json', 'print the raw JSON')
    .action(async (options: { json?: boolean }, cmd: Command) => {
      const state = await clientFor(cmd).nodeLock();
      if (options.json) printJson(state);
      else process.stdout.write(!state.autolock ? 'autolock off\n' : state.locked ? 'locked: unlock with `bicycle node unlock`\n' : 'autolock on, unlocked\n');
    });
}

function readPassphrase(file: string | undefined): string {
  let text: string;
  try {
    text = readFileSync(file ?? 0, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the passphrase from ${file ?? 'standard input'}: ${(error as Error).message}`);
  }
  const line = text.split('\n')[0]!.replace(/\r$/, '');
  if (!line) throw new InvalidArgumentError(`no passphrase: the first line of ${file ?? 'standard input'} is empty`);
  return line;
}
