import type { Command } from 'commander';
import { clientFor, printJson } from '../context';
import { formatBytes, formatDuration, formatPercent, shortId } from '../format';
import { formatTable } from '../table';
import { ERROR_WIDTH, truncate } from './service-ps';
import type { ClusterState } from '../types';

/** The leader's name when `leader` is a node id or name, else it as given. */
function leaderName(state: ClusterState): string {
  const { leader } = state.cluster;
  const node = state.nodes.find((n) => (leader ? n.id === leader || n.name === leader : n.leader));
  return node?.name ?? leader ?? 'none';
}

/** The people's summary of GET /state. */
export function stateSummary(state: ClusterState): string {
  const nodes = formatTable(
    ['NAME', 'ROLE', 'STATUS', 'AVAILABILITY', 'LEADER', 'UPTIME', 'TASKS'],
    state.nodes.map((n) => [n.name, n.role, n.status, n.availability, n.leader ? '*' : '', formatDuration(n.uptimeSeconds), n.tasks]),
  );
  const services = formatTable(
    ['NAME', 'IMAGE', 'REPLICAS', 'STATE', 'ERROR'],
    state.services.map((s) => [
      s.name, s.image, `${s.healthy ?? s.running}/${s.replicas}`, s.state, s.error && s.state !== 'RUNNING' ? truncate(s.error, ERROR_WIDTH) : '',
    ]),
  );
  const containers = formatTable(
    ['ID', 'NAME', 'NODE', 'STATE', 'UPTIME', 'CPU', 'MEMORY'],
    [...state.containers]
      .sort((a, b) => a.service.localeCompare(b.service) || a.slot - b.slot)
      .map((c) => [
        shortId(c.id), `${c.service}.${c.slot}`, c.node, c.state, formatDuration(c.uptimeSeconds),
        formatPercent(c.cpuPercent), formatBytes(c.memoryBytes),
      ]),
  );
  return [
    `Cluster:  ${state.cluster.id}`,
    `Leader:   ${leaderName(state)} (term ${state.cluster.term})`,
    ...(state.cluster.warnings ?? []).map((w) => `Warning:  ${w}`),
    '',
    'Nodes',
    nodes,
    'Services',
    services,
    'Containers',
    containers,
    ...(state.containersTruncated ? [`(the first ${state.containers.length} of ${state.containerCounts?.total ?? 'more'} containers; bicycle state --all lists them all)`, ''] : []),
  ].join('\n');
}

/** `bicycle state [--json]` */
export function registerState(program: Command): void {
  program
    .command('state')
    .description('summarise the cluster: leader, warnings, nodes, services, containers')
    .option('--json', 'print the raw JSON')
    .option('--all', 'list every container (the daemon lists the first 100 by default)')
    .action(async (options: { json?: boolean; all?: boolean }, cmd: Command) => {
      const state = await clientFor(cmd).getState(options.all ? 100_000 : undefined);
      if (options.json) printJson(state);
      else process.stdout.write(stateSummary(state));
    });
}
