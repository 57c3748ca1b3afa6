import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { shortId } from '../format';
import { formatTable } from '../table';
import type { ClusterNode } from '../types';

/** `zone=a,disk=ssd` in key order; "" without labels. */
export function labelsText(labels: Readonly<Record<string, string>> | undefined): string {
  return Object.keys(labels ?? {}).sort().map((k) => `${k}=${labels![k]}`).join(',');
}

export function nodeTable(nodes: readonly ClusterNode[]): string {
  const rows = [...nodes]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n) => [shortId(n.id), n.name, n.address, n.role, n.status, n.availability, n.leader ? '*' : '', n.tasks, labelsText(n.labels)]);
  return formatTable(['ID', 'NAME', 'ADDRESS', 'ROLE', 'STATUS', 'AVAILABILITY', 'LEADER', 'TASKS', 'LABELS'], rows);
}

/** The cluster's warnings (GET /state), one `warning: …` line each; "" without any. */
export function warningLines(warnings: readonly string[] | undefined): string {
  return (warnings ?? []).map((w) => `warning: ${w}\n`).join('');
}

/** `bicycle node ls [--json]`: the table, then the cluster's warnings on stderr. */
export function registerNodeLs(node: Command): void {
  node
    .command('ls')
    .description('list the cluster nodes')
    .option('--json', 'print the raw JSON')
    .action(async (options: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const nodes = await client.listNodes();
      if (options.json) {
        printJson(nodes);
        return;
      }
      process.stdout.write(nodeTable(nodes));
      process.stderr.write(warningLines((await client.getState()).cluster.warnings));
    });
}
