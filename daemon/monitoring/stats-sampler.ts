import type Docker from 'dockerode';
import { writeTransaction, type Db } from '../../database/open-database';
import { LABELS } from '../docker-client';
import type { Logger } from '../logger';
import { errorMessage } from '../logger';

interface CpuReading {
  containerTotal: number;
  systemTotal: number;
  onlineCpus: number;
}

/**
 * Samples CPU and memory of this node's Bicycle containers and keeps the
 * latest sample per container in the node-local `container_stats` table,
 * which the State endpoint reads. CPU percent is computed between two of our
 * own samples (one-shot stats), as `docker stats` does between two readings.
 */
export class StatsSampler {
  private readonly previous = new Map<string, CpuReading>();
  private readonly upsert;
  private readonly prune;

  constructor(private readonly docker: Docker, private readonly db: Db, private readonly labels: { cluster: string; node: string }, private readonly log: Logger) {
    this.upsert = db.prepare(
      `INSERT INTO container_stats (container_id, task_id, cpu_percent, memory_bytes, sampled_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(container_id) DO UPDATE SET cpu_percent = excluded.cpu_percent, memory_bytes = excluded.memory_bytes, sampled_at = excluded.sampled_at`,
    );
    this.prune = db.prepare('DELETE FROM container_stats WHERE sampled_at < ?');
  }

  async sampleOnce(now: number): Promise<void> {
    const containers = await this.docker.listContainers({
      filters: { label: [`${LABELS.cluster}=${this.labels.cluster}`, `${LABELS.node}=${this.labels.node}`], status: ['running'] },
    });
    const samples: Array<[string, string | null, number, number]> = [];
    for (const info of containers) {
      try {
        const stats = (await this.docker.getContainer(info.Id).stats({ stream: false, 'one-shot': true } as { stream: false })) as any;
        const reading: CpuReading = {
          containerTotal: stats.cpu_stats?.cpu_usage?.total_usage ?? 0,
          systemTotal: stats.cpu_stats?.system_cpu_usage ?? 0,
          onlineCpus: stats.cpu_stats?.online_cpus ?? 1,
        };
        const before = this.previous.get(info.Id);
        this.previous.set(info.Id, reading);
        const cpuPercent = before ? cpuPercentBetween(before, reading) : 0;
        const cache = stats.memory_stats?.stats?.inactive_file ?? stats.memory_stats?.stats?.cache ?? 0;
        const memoryBytes = Math.max(0, (stats.memory_stats?.usage ?? 0) - cache);
        samples.push([info.Id, info.Labels?.[LABELS.task] ?? null, cpuPercent, memoryBytes]);
      } catch (error) {
        // A container that stopped between the listing and its stats: nothing to sample.
        this.log.debug('no stats for container', { container: info.Id.slice(0, 12), error: errorMessage(error) });
      }
    }
    writeTransaction(this.db, () => {
      for (const [id, task, cpu, memory] of samples) this.upsert.run(id, task, cpu, memory, now);
      this.prune.run(now - 60_000);
    })();
    const live = new Set(containers.map((c) => c.Id));
    for (const id of this.previous.keys()) if (!live.has(id)) this.previous.delete(id);
  }
}

/** CPU use between two readings, in percent of one CPU (100 = one full core), like `docker stats`. */
export function cpuPercentBetween(before: CpuReading, after: CpuReading): number {
  const containerDelta = after.containerTotal - before.containerTotal;
  const systemDelta = after.systemTotal - before.systemTotal;
  if (containerDelta <= 0 || systemDelta <= 0) return 0;
  return Math.round((containerDelta / systemDelta) * after.onlineCpus * 100 * 100) / 100;
}
