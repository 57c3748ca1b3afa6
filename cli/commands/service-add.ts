import { InvalidArgumentError, type Command } from 'commander';
import { clientFor, waitDeps, withMaxFailures, withWaitOptions, type WaitOptions } from '../context';
import { lifecycleBody, withLifecycleOptions, type LifecycleOptions } from '../lifecycle-flags';
import { collectKeyValue, parseOnDisconnect, parseReplicas } from '../parse';
import { collectPublish } from '../ports';
import type { PublishedPort, ServiceSpec } from '../types';
import { waitForService } from '../wait';

interface AddOptions extends WaitOptions, LifecycleOptions {
  image: string;
  replicas: number;
  env?: Record<string, string>;
  label?: Record<string, string>;
  publish?: PublishedPort[];
  onDisconnect?: 'stop' | 'keep' | null;
  maxFailures?: number;
}

/** Builds the POST /services body from the command line. */
export function buildServiceSpec(name: string, command: string[], options: AddOptions): ServiceSpec {
  const spec: ServiceSpec = { name, image: options.image, replicas: options.replicas };
  if (command.length > 0) spec.command = command;
  if (options.env) spec.env = options.env;
  if (options.label) spec.labels = options.label;
  if (options.publish) spec.ports = options.publish;
  if (options.onDisconnect) spec.onDisconnect = options.onDisconnect;
  return { ...spec, ...lifecycleBody(options) };
}

/** `bicycle service add NAME --image IMG [--replicas N] [--env K=V]... [-p PUBLISHED:TARGET]... [--on-disconnect stop|keep] [--health-*|--restart-*|--update-*|--rollback-*|--stop-grace-period] [--max-failures N] [-- CMD ARGS...]` */
export function registerServiceAdd(service: Command): void {
  withMaxFailures(withLifecycleOptions(withWaitOptions(
    service
      .command('add')
      .description('create a service, then wait until its replicas run')
      .argument('<name>', 'service name')
      .argument('[command...]', 'command and arguments to run, after --')
      .requiredOption('--image <image>', 'container image')
      .option('--replicas <n>', 'number of replicas', parseReplicas, 1)
      .option('--env <KEY=VALUE>', 'environment variable (repeatable)', collectKeyValue)
      .option('--label <KEY=VALUE>', 'service label (repeatable)', collectKeyValue)
      .option(
        '-p, --publish <spec>',
        'publish a port (repeatable): PUBLISHED:TARGET[/tcp][,mode=host][,proxy=v1|v2] or published=P,target=T[,mode=...][,proxy=...]',
        collectPublish,
      )
      .option(
        '--on-disconnect <stop|keep>',
        'when a host is cut off from the leader for longer than the host-loss grace: stop its replicas there, or keep them running (default: stop with published ports, keep without)',
        parseOnDisconnect,
      ),
  ))).action(async (name: string, command: string[], options: AddOptions, cmd: Command) => {
    const client = clientFor(cmd);
    let spec: ServiceSpec;
    try {
      spec = buildServiceSpec(name, command, options);
    } catch (err) {
      if (err instanceof InvalidArgumentError) cmd.error(`error: ${err.message}`);
      throw err;
    }
    await client.createService(spec);
    if (!options.detach) await waitForService(client, name, options.timeout, waitDeps, { maxFailures: options.maxFailures });
    process.stdout.write(`${name}\n`);
  });
}
