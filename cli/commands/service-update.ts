import { InvalidArgumentError, type Command } from 'commander';
import { clientFor, waitDeps, withMaxFailures, withWaitOptions, type WaitOptions } from '../context';
import { applyChanges, collectKeyValue, collectString, parseOnDisconnect, parseReplicas } from '../parse';
import { applyPortChanges, collectPublish, collectPublishRm, samePorts, type PortRef } from '../ports';
import type { PublishedPort, Service, ServicePatch } from '../types';
import { newestTaskVersion, type WaitGoal } from '../converge';
import { hasLifecycleFlags, lifecycleBody, withLifecycleOptions, type LifecycleOptions } from '../lifecycle-flags';
import { hasPlacementFlags, placementBody, withPlacementOptions, type PlacementOptions } from '../placement-flags';
import { waitForService } from '../wait';
import { applySecretChanges, collectSecret, sameSecrets, type SecretFlag } from '../secret-flags';

interface UpdateOptions extends WaitOptions, LifecycleOptions, PlacementOptions {
  image?: string;
  replicas?: number;
  env?: Record<string, string>;
  envRm?: string[];
  label?: Record<string, string>;
  labelRm?: string[];
  command?: string[];
  publishAdd?: PublishedPort[];
  publishRm?: PortRef[];
  onDisconnect?: 'stop' | 'keep' | null;
  maxFailures?: number;
  secretAdd?: SecretFlag[];
  secretRm?: string[];
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

/**
 * The PATCH body for an update: only the fields that change. env, labels and
 * ports are sent whole, computed from the current ones. Empty when nothing
 * changes. Throws when --publish-rm names a port the service does not publish.
 */
export function buildServicePatch(current: Service, options: UpdateOptions, command: string[]): ServicePatch {
  const patch: ServicePatch = {};
  if (options.image !== undefined && options.image !== current.image) patch.image = options.image;
  if (options.replicas !== undefined && options.replicas !== current.replicas) patch.replicas = options.replicas;
  const env = applyChanges(current.env ?? {}, options.env ?? {}, options.envRm ?? []);
  if (!sameMap(env, current.env ?? {})) patch.env = env;
  const labels = applyChanges(current.labels ?? {}, options.label ?? {}, options.labelRm ?? []);
  if (!sameMap(labels, current.labels ?? {})) patch.labels = labels;
  const wanted = command.length > 0 ? command : options.command;
  if (wanted && JSON.stringify(wanted) !== JSON.stringify(current.command)) patch.command = wanted;
  if (options.publishAdd !== undefined || options.publishRm !== undefined) {
    const ports = applyPortChanges(current.name, current.ports ?? [], options.publishAdd ?? [], options.publishRm ?? []);
    if (!samePorts(ports, current.ports ?? [])) patch.ports = ports;
  }
  if (options.secretAdd !== undefined || options.secretRm !== undefined) {
    const missing = (options.secretRm ?? []).filter((source) => !(current.secrets ?? []).some((s) => s.source === source));
    if (missing.length > 0) throw new InvalidArgumentError(`--secret-rm: service ${current.name} does not use secret ${missing.join(', ')}`);
    const secrets = applySecretChanges(current.secrets ?? [], options.secretAdd ?? [], options.secretRm ?? []);
    if (!sameSecrets(secrets, current.secrets ?? [])) patch.secrets = secrets;
  }
  // Always sent when given: the service shows the setting in effect, not whether it was set or defaulted.
  if (options.onDisconnect !== undefined) patch.onDisconnect = options.onDisconnect;
  // Policies as given (the daemon merges them); the health check only when it changes (a new one means new containers).
  // Placement and resources whole, from the current ones, when they change; a changed prepull is sent as given.
  const placement = placementBody(options, current);
  if (placement.prepull !== undefined && placement.prepull === current.prepull) delete placement.prepull;
  return { ...patch, ...lifecycleBody(options, current), ...placement };
}

/**
 * A change to the container spec makes tasks of a newer version than any
 * so far: the one the daemon's answer names (`updated`), which an automatic
 * rollback would leave; older daemons did not say, and counted up by one.
 */
export function rolloutGoal(current: Service, patch: ServicePatch, updated?: Service): WaitGoal {
  // Limits are part of the container spec; reservations and placement are not.
  const limitsChanged = patch.resources !== undefined && JSON.stringify(patch.resources.limits ?? {}) !== JSON.stringify(current.resources?.limits ?? {});
  const specChanged = limitsChanged || ['image', 'command', 'env', 'labels', 'healthcheck', 'secrets'].some((field) => field in patch);
  if (!specChanged) return {};
  if (updated?.specVersion !== undefined) return { minTaskVersion: updated.specVersion, rolloutVersion: updated.specVersion };
  return { minTaskVersion: (current.specVersion ?? newestTaskVersion(current)) + 1 };
}

function hasChangeFlags(options: UpdateOptions, command: string[]): boolean {
  return (
    options.image !== undefined || options.replicas !== undefined || options.env !== undefined ||
    options.envRm !== undefined || options.label !== undefined || options.labelRm !== undefined ||
    options.command !== undefined || options.publishAdd !== undefined || options.publishRm !== undefined ||
    options.onDisconnect !== undefined || options.secretAdd !== undefined || options.secretRm !== undefined || command.length > 0 || hasLifecycleFlags(options) || hasPlacementFlags(options)
  );
}

/** `bicycle service update NAME [--image IMG] [--replicas N] [--env K=V]... [--env-rm K]... [--publish-add SPEC]... [--publish-rm PORT]... [--on-disconnect stop|keep|default] [--health-*|--restart-*|--update-*|--rollback-*|--stop-grace-period] [--command ...]` */
export function registerServiceUpdate(service: Command): void {
  withMaxFailures(withPlacementOptions(withLifecycleOptions(withWaitOptions(
    service
      .command('update')
      .description("change a service's spec, then wait until it has rolled out")
      .argument('<name>', 'service name')
      .argument('[command...]', 'new command and arguments, after -- (like --command)')
      .option('--image <image>', 'new container image')
      .option('--replicas <n>', 'new number of replicas', parseReplicas)
      .option('--env <KEY=VALUE>', 'add or change an environment variable (repeatable)', collectKeyValue)
      .option('--env-rm <KEY>', 'remove an environment variable (repeatable)', collectString)
      .option('--label <KEY=VALUE>', 'add or change a label (repeatable)', collectKeyValue)
      .option('--label-rm <KEY>', 'remove a label (repeatable)', collectString)
      .option('--publish-add <spec>', 'publish a port, replacing one with the same published port (repeatable; syntax as service add --publish)', collectPublish)
      .option('--publish-rm <port>', 'stop publishing a port: PUBLISHED, PUBLISHED:TARGET or published=P (repeatable)', collectPublishRm)
      .option('--secret-add <spec>', 'mount a secret, replacing one of the same name or target (repeatable; syntax as service add --secret)', collectSecret)
      .option('--secret-rm <name>', 'stop mounting a secret (repeatable)', collectString)
      .option('--command <args...>', 'new command and arguments (use -- CMD ARGS when an argument starts with -)')
      .option('--on-disconnect <stop|keep|default>', 'what a host cut off from the leader does with its replicas: stop, keep, or default (stop with published ports, keep without)', parseOnDisconnect),
  )), 'update')).action(async (name: string, command: string[], options: UpdateOptions, cmd: Command) => {
    if (!hasChangeFlags(options, command)) {
      cmd.error('nothing to update: give --image, --replicas, --env, --env-rm, --label, --label-rm, --publish-add, --publish-rm, --secret-add, --secret-rm, --on-disconnect, --command, or a --health-*, --restart-*, --update-*, --rollback-*, --stop-grace-period, --constraint-*, --placement-*, --max-replicas-per-node, --reserve-*, --limit-* or --prepull flag');
    }
    const client = clientFor(cmd);
    const current = await client.getService(name);
    let patch: ServicePatch;
    try {
      patch = buildServicePatch(current, options, command);
    } catch (err) {
      if (err instanceof InvalidArgumentError) cmd.error(`error: ${err.message}`);
      throw err;
    }
    let updated: Service | undefined;
    if (Object.keys(patch).length > 0) updated = await client.updateService(name, patch);
    else process.stderr.write(`${name}: already up to date\n`);
    const goal = { ...rolloutGoal(current, patch, updated), maxFailures: options.maxFailures };
    if (!options.detach) await waitForService(client, name, options.timeout, waitDeps, goal);
    process.stdout.write(`${name}\n`);
  });
}
