import { InvalidArgumentError, type Command } from 'commander';
import { clientFor, ExitCodeError, printError, waitDeps, withWaitOptions, type WaitOptions } from '../context';
import { parseScaleTarget, type ScaleTarget } from '../parse';
import { waitForService } from '../wait';

function collectTarget(text: string, previous: ScaleTarget[] = []): ScaleTarget[] {
  const target = parseScaleTarget(text);
  if (previous.some((t) => t.name === target.name)) {
    throw new InvalidArgumentError(`service "${target.name}" is named more than once`);
  }
  return [...previous, target];
}

/** `bicycle service scale NAME=N [NAME=N ...]` */
export function registerServiceScale(service: Command): void {
  withWaitOptions(
    service
      .command('scale')
      .description('set the replica count of one or more services, then wait until they run')
      .argument('<service=replicas...>', 'e.g. web=5 api=2', collectTarget),
  ).action(async (targets: ScaleTarget[], options: WaitOptions, cmd: Command) => {
    const client = clientFor(cmd);
    let failed = false;
    const accepted: ScaleTarget[] = [];
    for (const target of targets) {
      try {
        await client.updateService(target.name, { replicas: target.replicas });
        accepted.push(target);
      } catch (err) {
        printError(err);
        failed = true;
      }
    }
    const waits = accepted.map(async (target) => {
      if (!options.detach) await waitForService(client, target.name, options.timeout, waitDeps);
      process.stdout.write(`${target.name} scaled to ${target.replicas}\n`);
    });
    for (const outcome of await Promise.allSettled(waits)) {
      if (outcome.status === 'rejected') {
        printError(outcome.reason);
        failed = true;
      }
    }
    if (failed) throw new ExitCodeError(1);
  });
}
