import type { Command } from 'commander';
import { clientFor, ExitCodeError, printError, waitDeps, withWaitOptions, type WaitOptions } from '../context';
import { waitForRemoval } from '../wait';

/** `bicycle service rm NAME [NAME...]` */
export function registerServiceRm(service: Command): void {
  withWaitOptions(
    service
      .command('rm')
      .description('remove services, then wait until they are gone')
      .argument('<name...>', 'service names'),
  ).action(async (names: string[], options: WaitOptions, cmd: Command) => {
    const client = clientFor(cmd);
    const outcomes = await Promise.allSettled(
      [...new Set(names)].map(async (name) => {
        await client.removeService(name);
        if (!options.detach) await waitForRemoval(client, name, options.timeout, waitDeps);
        process.stdout.write(`${name}\n`);
      }),
    );
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    for (const failure of failures) printError(failure.reason);
    if (failures.length > 0) throw new ExitCodeError(1);
  });
}
