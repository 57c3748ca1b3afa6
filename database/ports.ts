import type { Db } from './open-database';
import { prepared } from './statements';
import type { PortSpec } from './commands';
import { BicycleError } from './errors';

/** A port as a proposer may send it: the defaults (tcp, ingress, no PROXY header) may be left out. */
export type PortInput = Pick<PortSpec, 'published' | 'target'> & Partial<Omit<PortSpec, 'published' | 'target'>>;

/** Every field present, keys in one order: how a port is stored and shown. */
export function normalisePort(port: PortInput): PortSpec {
  return {
    published: port.published,
    target: port.target,
    protocol: port.protocol ?? 'tcp',
    mode: port.mode ?? 'ingress',
    proxy: port.proxy ?? 'none',
  };
}

/**
 * Normalised ports in order of published port, so that two lists with the
 * same ports compare equal as text whatever order they were given in.
 */
export function normalisePorts(ports: readonly PortInput[] | null | undefined): PortSpec[] {
  return (ports ?? []).map(normalisePort).sort((a, b) => a.published - b.published);
}

/** The stored text of a port list (the services.ports column). */
export function portsJson(ports: readonly PortInput[] | null | undefined): string {
  return JSON.stringify(normalisePorts(ports));
}

/**
 * Refuses a port list that publishes a port twice (INVALID_ARGUMENT), or a
 * port another service already publishes (PORT_IN_USE, naming both
 * services). A published port is the cluster's, whatever its mode and
 * whatever state the other service is in: a service being deleted keeps its
 * ports until its row is removed, since its replicas may still be serving.
 * Deterministic (the first port of `ports` in published order that clashes,
 * the first holder by name), so every node applying a command refuses it
 * alike. Only tcp exists: when udp comes, the key becomes (port, protocol).
 */
export function requirePortsFree(db: Db, serviceName: string, ports: readonly PortInput[]): void {
  const seen = new Set<number>();
  for (const port of normalisePorts(ports)) {
    if (seen.has(port.published)) {
      throw new BicycleError('INVALID_ARGUMENT', `published port ${port.published} is given twice for service ${serviceName}`);
    }
    seen.add(port.published);
  }
  const holder = prepared(
    db,
    `SELECT s.name AS name FROM services s, json_each(s.ports) p
     WHERE s.name != ? AND json_extract(p.value, '$.published') = ? ORDER BY s.name LIMIT 1`,
  );
  for (const published of seen) {
    const row = holder.get(serviceName, published) as { name: string } | undefined;
    if (row) {
      throw new BicycleError('PORT_IN_USE', `published port ${published} is already used by service ${row.name} (asked for by service ${serviceName})`);
    }
  }
}
