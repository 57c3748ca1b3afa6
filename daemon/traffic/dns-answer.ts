/**
 * How a service name resolves inside containers (pure). Every container a
 * node starts asks that node's resolver (on its engine's bridge gateway) and
 * searches the `bicycle` domain, so `web` and `web.bicycle` are the service
 * `web`. A service with published ports resolves to the node's own gateway
 * address: the connection then takes the node's traffic manager, which
 * balances it over the service's replicas on every node. Names in the
 * `bicycle` domain that are no such service do not exist; any other name is
 * the upstream resolvers' to answer.
 */
export const SERVICE_DOMAIN = 'bicycle';
/** Seconds a resolver may keep an answer: a removed service stops resolving about that long after. */
export const SERVICE_TTL_SECONDS = 1;

export type Resolution =
  | { kind: 'address'; address: string }
  /** The name exists but has no record of this type (AAAA for a service): an empty NOERROR answer. */
  | { kind: 'empty' }
  | { kind: 'nxdomain' }
  | { kind: 'forward' };

export function resolveName(name: string, type: string, services: ReadonlySet<string>, gateway: string): Resolution {
  const lower = name.toLowerCase().replace(/\.$/, '');
  const suffix = `.${SERVICE_DOMAIN}`;
  const inDomain = lower.endsWith(suffix);
  const label = inDomain ? lower.slice(0, -suffix.length) : lower;
  const service = [...services].find((s) => s.toLowerCase() === label);
  if (service !== undefined && (inDomain || !label.includes('.'))) {
    return type === 'A' || type === 'ANY' ? { kind: 'address', address: gateway } : { kind: 'empty' };
  }
  if (inDomain || lower === SERVICE_DOMAIN) return { kind: 'nxdomain' };
  return { kind: 'forward' };
}

/** The `nameserver` lines of a resolv.conf, without `skip` (this resolver's own address). */
export function upstreamResolvers(resolvConf: string, skip: string): string[] {
  return resolvConf
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((a): a is string => a !== undefined && a !== skip);
}
