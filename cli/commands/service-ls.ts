import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { formatPorts } from '../ports';
import { formatTable } from '../table';
import type { ServiceSummary } from '../types';

/**
 * REPLICAS counts the replicas that serve: running and healthy where a
 * check exists (the service's or its image's), running otherwise; older
 * daemons, without `healthy`, count running.
 */
export function serviceTable(services: readonly ServiceSummary[]): string {
  const rows = [...services]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => [s.name, s.image, `${s.healthy ?? s.running}/${s.replicas}`, s.state, s.version, formatPorts(s.ports)]);
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
