#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { registerCompletion } from './commands/completion';
import { registerLogs } from './commands/logs';
import { registerEvents } from './commands/events';
import { registerNodeActivate } from './commands/node-activate';
import { registerNodeDemote } from './commands/node-demote';
import { registerNodeDrain } from './commands/node-drain';
import { registerNodeJoinToken } from './commands/node-join-token';
import { registerNodeInspect } from './commands/node-inspect';
import { registerNodeLs } from './commands/node-ls';
import { registerNodePause } from './commands/node-pause';
import { registerNodePromote } from './commands/node-promote';
import { registerNodeUnlock } from './commands/node-unlock';
import { registerNodeRm } from './commands/node-rm';
import { registerNodeUpdate } from './commands/node-update';
import { registerServiceAdd } from './commands/service-add';
import { registerServiceHistory } from './commands/service-history';
import { registerServiceInspect } from './commands/service-inspect';
import { registerServiceLogs } from './commands/service-logs';
import { registerServiceLs } from './commands/service-ls';
import { registerServicePs } from './commands/service-ps';
import { registerServiceRebalance } from './commands/service-rebalance';
import { registerServiceRm } from './commands/service-rm';
import { registerServiceRollback } from './commands/service-rollback';
import { registerServiceScale } from './commands/service-scale';
import { registerServiceUpdate } from './commands/service-update';
import { registerState } from './commands/state';
import { registerSecretCreate } from './commands/secret-create';
import { registerSecretLs } from './commands/secret-ls';
import { registerSecretRm } from './commands/secret-rm';
import { registerSecretUpdate } from './commands/secret-update';
import { registerTokenCreate } from './commands/token-create';
import { registerTokenLs } from './commands/token-ls';
import { registerTokenRm } from './commands/token-rm';
import { registerDebugLinkCut } from './commands/debug-link-cut';
import { registerDebugLinkUp } from './commands/debug-link-up';
import { registerDebugLinkLs } from './commands/debug-link-ls';
import { registerContextAdd } from './commands/context-add';
import { registerContextUse } from './commands/context-use';
import { registerContextLs } from './commands/context-ls';
import { registerContextRm } from './commands/context-rm';
import { registerAudit } from './commands/audit';
import { ExitCodeError, printError } from './context';
import { DEFAULT_HOST } from './host';

/** Exit codes: 0 success, 1 the daemon refused, the wait timed out, or the rollout paused, rolled back or gave up; 2 usage. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function packageVersion(): string {
  try {
    const file = join(__dirname, '..', '..', 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The whole command tree; commander errors are thrown, not exited on. */
export function buildProgram(): Command {
  const program = new Command('bicycle')
    .description('Command-line client of bicycled, the Bicycle container orchestrator.')
    .version(packageVersion())
    .addOption(
      new Option('--host <host>', 'daemon address: host:port or http(s)://host:port')
        .env('BICYCLE_HOST')
        .default(DEFAULT_HOST),
    )
    .addOption(new Option('--token <token>', 'API token (BAT1-…) sent as Authorization: Bearer').env('BICYCLE_TOKEN'))
    .addOption(new Option('--ca <file>', 'CA certificate (PEM) to trust for an https:// host: the cluster CA, data/ca.crt on a member').env('BICYCLE_CA'))
    .addOption(new Option('--context <name>', 'use this saved context (bicycle context ls) for this command').env('BICYCLE_CONTEXT'))
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  const service = program.command('service').description('manage services');
  registerServiceAdd(service);
  registerServiceLs(service);
  registerServicePs(service);
  registerServiceInspect(service);
  registerServiceScale(service);
  registerServiceUpdate(service);
  registerServiceRollback(service);
  registerServiceHistory(service);
  registerServiceRm(service);
  registerServiceLogs(service);
  registerServiceRebalance(service);

  const node = program.command('node').description('manage cluster nodes');
  registerNodeLs(node);
  registerNodeInspect(node);
  registerNodeUpdate(node);
  registerNodeJoinToken(node);
  registerNodeDrain(node);
  registerNodeActivate(node);
  registerNodePause(node);
  registerNodeRm(node);
  registerNodePromote(node);
  registerNodeUnlock(node);
  registerNodeDemote(node);

  const secret = program.command('secret').description('manage secrets (admin): values mounted into containers as files on a tmpfs');
  registerSecretCreate(secret);
  registerSecretLs(secret);
  registerSecretUpdate(secret);
  registerSecretRm(secret);

  const token = program.command('token').description('manage API tokens (admin)');
  registerTokenCreate(token);
  registerTokenLs(token);
  registerTokenRm(token);

  const context = program.command('context').description('manage saved contexts: a cluster\'s address, token and CA');
  registerContextAdd(context);
  registerContextUse(context);
  registerContextLs(context);
  registerContextRm(context);

  const link = program
    .command('debug')
    .description('experiments on a daemon started with --debug-links (admin)')
    .command('link')
    .description("cut or restore this node's links to its peers, for partition experiments");
  registerDebugLinkCut(link);
  registerDebugLinkUp(link);
  registerDebugLinkLs(link);

  registerAudit(program);
  registerState(program);
  registerLogs(program);
  registerEvents(program);
  registerCompletion(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    if (err instanceof ExitCodeError) return err.exitCode;
    printError(err);
    return EXIT_FAILURE;
  }
}

if (require.main === module) {
  // `bicycle logs -f | head` closes stdout early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  run(process.argv).then((code) => {
    process.exitCode = code;
  });
}
