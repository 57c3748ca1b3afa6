import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command as CliCommand } from 'commander';
import { openDatabase } from '../database/open-database';
import { getLocal } from '../database/queries';
import { addPendingToken, mintToken, TOKEN_NAME_PATTERN } from '../database/tokens';

/**
 * Mints an admin token on this node (docs/security.md, "The first token"):
 * its hash waits in the node's local_state until the node's REST thread
 * proposes it through the log like any other token (within a second while
 * bicycled runs, else at its next start). Whoever can write the data
 * directory is this node's administrator already, so the directory is the
 * credential. Returns the token string, shown once.
 */
export function mintLocalAdminToken(databaseFile: string, name: string, createdBy: 'init' | 'bootstrap'): string {
  const db = openDatabase(databaseFile, { migrate: true });
  try {
    const minted = mintToken();
    addPendingToken(db, { accessor: minted.accessor, name, role: 'admin', secretHash: minted.secretHash, expiresAt: null, createdBy });
    return minted.token;
  } finally {
    db.close();
  }
}

/** `bicycled token bootstrap --data-dir DIR [--name NAME]`: a fresh admin token for a node whose first token is lost. */
export function runTokenCommand(argv: string[]): void {
  const program = new CliCommand('bicycled token').description('API tokens minted on the node itself, from its data directory');
  program
    .command('bootstrap')
    .description('mint a fresh admin token through this node\'s local database (printed once); the node\'s bicycled proposes it to the cluster')
    .requiredOption('--data-dir <dir>', 'the node\'s data directory (BICYCLE_DATA_DIR)', process.env.BICYCLE_DATA_DIR)
    .option('--name <name>', 'the token\'s name (default bootstrap-<time>)')
    .action((o: { dataDir: string; name?: string }) => {
      const databaseFile = join(resolve(o.dataDir), 'bicycle.db');
      if (!existsSync(databaseFile)) fail(`${databaseFile} does not exist: --data-dir must be the data directory of a node that has run bicycled`);
      const name = o.name ?? `bootstrap-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`;
      if (!TOKEN_NAME_PATTERN.test(name)) fail(`--name: must be 1-63 letters, digits, _ . @ - starting with a letter or digit, not ${name}`);
      const probe = openDatabase(databaseFile);
      const member = getLocal(probe, 'node_id');
      probe.close();
      if (!member) fail(`${databaseFile} is not a node's database (no node id): start bicycled on it first`);
      const token = mintLocalAdminToken(databaseFile, name, 'bootstrap');
      process.stdout.write(`${token}\n`);
      process.stderr.write(`bicycled: admin token ${name} minted (shown only now). It is valid once this node's bicycled has proposed it to the cluster: within a second while it runs, else when it next starts.\n`);
    });
  program.parse(argv, { from: 'user' });
}

function fail(message: string): never {
  process.stderr.write(`bicycled token: ${message}\n`);
  process.exit(2);
}
