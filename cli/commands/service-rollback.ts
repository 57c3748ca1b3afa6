import { InvalidArgumentError, type Command } from 'commander';
import { clientFor, waitDeps, withWaitOptions, type WaitOptions } from '../context';
import { waitForService } from '../wait';

/** `--to 3`: a spec version, as service history lists them. */
export function parseVersion(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError(`expected a version number 1 or more (see bicycle service history), got "${text}"`);
  }
  return Number(text.trim());
}

/** `bicycle service rollback NAME [--to VERSION] [-d] [--timeout S]` */
export function registerServiceRollback(service: Command): void {
  withWaitOptions(
    service
      .command('rollback')
      .description('return a service to its previous spec (or the version named), then wait until the rollback completes')
      .argument('<name>', 'service name')
      .option('--to <version>', 'the spec version to return to (see service history); default: the one before the current', parseVersion),
  ).action(async (name: string, options: WaitOptions & { to?: number }, cmd: Command) => {
    const client = clientFor(cmd);
    await client.rollbackService(name, options.to);
    if (!options.detach) await waitForService(client, name, options.timeout, waitDeps, { rollback: true });
    process.stdout.write(`${name}\n`);
  });
}
