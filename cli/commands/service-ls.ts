import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { formatPorts } from '../ports';
import { formatTable } from '../table';
import type { ServiceSummary } from '../types';

export function serviceTable(services: readonly ServiceSummary[]): string {
  const rows = [...services]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => [s.name, s.image, `${s.running}/${s.replicas}`, s.state, s.version, formatPorts(s.ports)]);
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
