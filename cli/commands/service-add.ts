import { InvalidArgumentError, type Command } from 'commander';
import { clientFor, waitDeps, withMaxFailures, withWaitOptions, type WaitOptions } from '../context';
import { lifecycleBody, withLifecycleOptions, type LifecycleOptions } from '../lifecycle-flags';
import { placementBody, withPlacementOptions, type PlacementOptions } from '../placement-flags';
import { collectKeyValue, parseOnDisconnect, parseReplicas } from '../parse';
import { collectPublish } from '../ports';
import type { PublishedPort, ServiceSpec } from '../types';
import { waitForService } from '../wait';
import { collectSecret, type SecretFlag } from '../secret-flags';

interface AddOptions extends WaitOptions, LifecycleOptions, PlacementOptions {
  image: string;
  /** Absent: 1 for a replicated service; a global one takes none. */
  replicas?: number;
  env?: Record<string, string>;
  label?: Record<string, string>;
  publish?: PublishedPort[];
  onDisconnect?: 'stop' | 'keep' | null;
  maxFailures?: number;
  secret?: SecretFlag[];
}

/** Builds the POST /services body from the command line. */
export function buildServiceSpec(name: string, command: string[], options: AddOptions): ServiceSpec {
  if (options.mode === 'global' && options.replicas !== undefined) {
    throw new InvalidArgumentError('--replicas cannot be given with --mode global: a global service runs one replica on every eligible node');
  }
  const spec: ServiceSpec = { name, image: options.image };
  if (options.mode !== 'global') spec.replicas = options.replicas ?? 1;
  if (command.length > 0) spec.command = command;
  if (options.env) spec.env = options.env;
  if (options.label) spec.labels = options.label;
  if (options.publish) spec.ports = options.publish;
  if (options.onDisconnect) spec.onDisconnect = options.onDisconnect;
  if (options.secret) spec.secrets = options.secret;
  return { ...spec, ...lifecycleBody(options), ...placementBody(options) };
}

/** `bicycle service add NAME --image IMG [--replicas N | --mode global] [--env K=V]... [-p PUBLISHED:TARGET]... [--on-disconnect stop|keep] [--constraint EXPR]... [--placement-pref spread=D]... [--reserve-*|--limit-*] [--prepull] [--health-*|--restart-*|--update-*|--rollback-*|--stop-grace-period] [--max-failures N] [-- CMD ARGS...]` */
export function registerServiceAdd(service: Command): void {
  withMaxFailures(withPlacementOptions(withLifecycleOptions(withWaitOptions(
    service
      .command('add')
      .description('create a service, then wait until its replicas run')
      .argument('<name>', 'service name')
      .argument('[command...]', 'command and arguments to run, after --')
      .requiredOption('--image <image>', 'container image')
      .option('--replicas <n>', 'number of replicas (default 1)', parseReplicas)
      .option('--env <KEY=VALUE>', 'environment variable (repeatable)', collectKeyValue)
      .option('--label <KEY=VALUE>', 'service label (repeatable)', collectKeyValue)
      .option('--secret <spec>', 'mount a secret as a read-only file (repeatable): NAME or src=NAME[,target=/path][,mode=0400] (default target /run/secrets/NAME, mode 0444)', collectSecret)
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
  )), 'add')).action(async (name: string, command: string[], options: AddOptions, cmd: Command) => {
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
