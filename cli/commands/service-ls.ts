import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { formatPorts } from '../ports';
import { formatTable } from '../table';
import type { ServiceSummary } from '../types';

/** `3/3`, or `3/3 (global)` for a global service, whose replicas are its tasks wanted running (one per eligible node). */
export function replicasText(s: Pick<ServiceSummary, 'healthy' | 'running' | 'replicas' | 'mode'>): string {
  const count = `${s.healthy ?? s.running}/${s.replicas}`;
  return s.mode === 'global' ? `${count} (global)` : count;
}

/**
 * REPLICAS counts the replicas that serve: running and healthy where a
 * check exists (the service's or its image's), running otherwise; older
 * daemons, without `healthy`, count running.
 */
export function serviceTable(services: readonly ServiceSummary[]): string {
  const rows = [...services]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => [s.name, s.image, replicasText(s), s.state, s.version, formatPorts(s.ports)]);
  return formatTable(['NAME', 'IMAGE', 'REPLICAS', 'STATE', 'VERSION', 'PORTS'], rows);
}

/** `bicycle service ls [--json]` */
export function registerServiceLs(service: Command): void {
  service
    .command('ls')
    .description('list services')
    .option('--json', 'print the raw JSON')
    .action(async (options: { json?: boolean }, cmd: Command) => {
      const services = await clientFor(cmd).listServices();
      if (options.json) printJson(services);
      else process.stdout.write(serviceTable(services));
    });
}
