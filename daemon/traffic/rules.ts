import type { PortPlan, TrafficPlan } from './plan';

/**
 * The kernel half of the traffic manager, rendered as iptables-restore input
 * (pure: plan in, text out). As kube-proxy does, the whole rule set is
 * rebuilt from the plan and applied in one `iptables-restore --noflush`
 * into chains this node owns, so a missed event costs one resync, never a
 * wrong rule. Nothing outside those chains is changed, except one jump into
 * each from PREROUTING, POSTROUTING (nat), FORWARD and INPUT (filter).
 *
 * nat   PREROUTING  → P-PRE   connections to a local address
 *         P-PRE:  from a peer node → P-PEER; to a published port whose kernel path is on → P-S<port>
 *         P-PEER: to a published port with local replicas → P-L<port> (forwarded here: local replicas only)
 *         P-S<port>: DNAT to each local replica with probability 1/(replicas left); the remote share falls
 *                    through to the port's Node.js listener, which forwards it
 *         P-L<port>: DNAT over the local replicas only
 *       POSTROUTING → P-POST  masquerade a container reaching a replica on its own bridge (hairpin)
 * filter FORWARD    → P-FWD   count, per service, the connections and bytes of what P-S/P-L sent to a replica
 *                             (rules without a target, commented `traffic <service> conn|in|out`), then accept
 *                             it (ahead of the engine's own rules)
 *        INPUT      → P-IN    refuse (TCP reset) a forwarded connection that found no local replica,
 *                             so the forwarding node retries another replica at once
 */
export const MARK_FORWARD = 0x10000000;
export const MARK_MASQUERADE = 0x20000000;

export type Table = 'nat' | 'filter';

export interface Jump {
  table: Table;
  chain: string;
  /** The rule, as arguments after `-A CHAIN`. */
  rule: string[];
}

export interface RuleSet {
  /** Chains of this node, by table, in the order they are declared. */
  chains: Record<Table, string[]>;
  /** `-A …` lines by table. */
  rules: Record<Table, string[]>;
  jumps: Jump[];
}

export function chainPrefix(nodeId: string): string {
  // Chain names are limited to 28 characters: BICYCLE-xxxxxx-S65535 is 21.
  return `BICYCLE-${shortHash(nodeId)}`;
}

function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0').slice(0, 6);
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** The jumps into this node's chains; `owner` (a comment, e.g. `bicycle pid=42`) marks them as ours. */
export function jumpsFor(prefix: string, owner: string): Jump[] {
  const comment = ['-m', 'comment', '--comment', `"${owner}"`];
  return [
    { table: 'nat', chain: 'PREROUTING', rule: ['-m', 'addrtype', '--dst-type', 'LOCAL', ...comment, '-j', `${prefix}-PRE`] },
    { table: 'nat', chain: 'POSTROUTING', rule: [...comment, '-j', `${prefix}-POST`] },
    { table: 'filter', chain: 'FORWARD', rule: [...comment, '-j', `${prefix}-FWD`] },
    { table: 'filter', chain: 'INPUT', rule: [...comment, '-j', `${prefix}-IN`] },
  ];
}

export function renderRules(plan: TrafficPlan, prefix: string, owner: string, bridgeSubnet: string | null): RuleSet {
  const nat: string[] = [];
  const filter: string[] = [];
  const natChains = [`${prefix}-PRE`, `${prefix}-PEER`, `${prefix}-POST`];
  const pre = `${prefix}-PRE`;
  const peer = `${prefix}-PEER`;

  if (plan.peerAddresses.length > 0) {
    for (const address of plan.peerAddresses) nat.push(`-A ${pre} -s ${address}/32 -j ${peer}`);
  }
  for (const port of plan.ports) {
    if (port.local.length === 0) continue;
    if (port.mode === 'ingress') {
      const local = `${prefix}-L${port.published}`;
      natChains.push(local);
      nat.push(`-A ${peer} -p tcp -m tcp --dport ${port.published} -j ${local}`);
      nat.push(...balance(local, port, port.local.length, bridgeSubnet));
    }
    if (port.kernel) {
      const split = `${prefix}-S${port.published}`;
      natChains.push(split);
      nat.push(`-A ${pre} -p tcp -m tcp --dport ${port.published} -j ${split}`);
      nat.push(...balance(split, port, port.local.length + port.remote.length, bridgeSubnet));
    }
  }
  nat.push(`-A ${prefix}-POST -m mark --mark ${hex(MARK_MASQUERADE)}/${hex(MARK_MASQUERADE)} -j MASQUERADE`);

  for (const port of plan.ports) if (port.local.length > 0 && port.service) filter.push(...countingRules(`${prefix}-FWD`, port));
  filter.push(`-A ${prefix}-FWD -m mark --mark ${hex(MARK_FORWARD)}/${hex(MARK_FORWARD)} -j ACCEPT`);
  for (const port of plan.ports) {
    if (port.mode !== 'ingress') continue;
    for (const address of plan.peerAddresses) {
      filter.push(`-A ${prefix}-IN -s ${address}/32 -p tcp -m tcp --dport ${port.published} -j REJECT --reject-with tcp-reset`);
    }
  }
  return {
    chains: { nat: natChains, filter: [`${prefix}-FWD`, `${prefix}-IN`] },
    rules: { nat, filter },
    jumps: jumpsFor(prefix, owner),
  };
}

/**
 * DNAT rules spreading new connections over the local replicas, one rule
 * each: the i-th matches with probability 1/(total − i), so each of `total`
 * replicas gets an equal share; when `total` counts remote replicas too, the
 * connections no rule took (their share) fall through to the Node.js hop.
 */
function balance(chain: string, port: PortPlan, total: number, bridgeSubnet: string | null): string[] {
  const lines = [`-A ${chain} -j MARK --set-xmark ${hex(MARK_FORWARD)}/${hex(MARK_FORWARD)}`];
  if (bridgeSubnet) lines.push(`-A ${chain} -s ${bridgeSubnet} -j MARK --set-xmark ${hex(MARK_MASQUERADE)}/${hex(MARK_MASQUERADE)}`);
  port.local.forEach((backend, i) => {
    const left = total - i;
    const chance = left > 1 ? `-m statistic --mode random --probability ${(1 / left).toFixed(10)} ` : '';
    lines.push(`-A ${chain} -p tcp ${chance}-j DNAT --to-destination ${backend.host}:${backend.port}`);
  });
  return lines;
}

/**
 * Rules that only count (no target): every packet of a connection the
 * kernel sent to a replica passes FORWARD, both ways, and conntrack still
 * knows the published port it was addressed to (`--ctorigdstport`), long after
 * the nat table saw its first packet. The first packet (NEW) counts the
 * connection; the others count its bytes by direction.
 */
function countingRules(chain: string, port: PortPlan): string[] {
  const match = `-p tcp -m conntrack --ctstate DNAT --ctorigdstport ${port.published}`;
  const comment = (what: string) => `-m comment --comment "${TRAFFIC_COMMENT} ${port.service} ${what}"`;
  return [
    `-A ${chain} -p tcp -m conntrack --ctstate NEW -m conntrack --ctstate DNAT --ctorigdstport ${port.published} ${comment('conn')}`,
    `-A ${chain} ${match} --ctdir ORIGINAL ${comment('in')}`,
    `-A ${chain} ${match} --ctdir REPLY ${comment('out')}`,
  ];
}

const TRAFFIC_COMMENT = 'traffic';

/** The kernel path's counts for one service, as this node's counting rules show them (since those rules were written). */
export interface KernelCounts {
  service: string;
  connections: number;
  bytesIn: number;
  bytesOut: number;
}

/** Reads the counting rules of this node's FORWARD chain from `iptables-save -c` output. Pure. */
export function parseTrafficCounters(text: string, prefix: string): Map<string, KernelCounts> {
  const out = new Map<string, KernelCounts>();
  const line = new RegExp(`^\\[(\\d+):(\\d+)\\] -A ${prefix}-FWD .*--comment "?${TRAFFIC_COMMENT} (\\S+) (conn|in|out)"?\\s*$`);
  for (const raw of text.split('\n')) {
    const m = line.exec(raw.trim());
    if (!m) continue;
    const [, packets, bytes, service, what] = m;
    let c = out.get(service!);
    if (!c) out.set(service!, (c = { service: service!, connections: 0, bytesIn: 0, bytesOut: 0 }));
    if (what === 'conn') c.connections += Number(packets);
    else if (what === 'in') c.bytesIn += Number(bytes);
    else c.bytesOut += Number(bytes);
  }
  return out;
}

/** What iptables-save shows of one table: its chains and the rules of each, in order. */
export interface SavedTable {
  chains: string[];
  rules: Map<string, string[]>;
}

/** Parses `iptables-save` output (the tables asked for), with or without `-c` (its counters are left out). Pure. */
export function parseSave(text: string): Map<Table, SavedTable> {
  const tables = new Map<Table, SavedTable>();
  let current: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^\[\d+:\d+\] /, '');
    if (line.startsWith('*')) {
      current = { chains: [], rules: new Map() };
      tables.set(line.slice(1) as Table, current);
    } else if (current && line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      current.chains.push(name);
      current.rules.set(name, []);
    } else if (current && line.startsWith('-A ')) {
      const name = line.split(' ')[1]!;
      const list = current.rules.get(name) ?? [];
      list.push(line);
      current.rules.set(name, list);
    }
  }
  return tables;
}

/** The chains of every Bicycle node in this namespace, and the jumps into them, that `isOrphan(prefix, line)` says are dead. */
export function bicycleJumps(saved: Map<Table, SavedTable>): Array<{ table: Table; chain: string; line: string; target: string; owner: string | null }> {
  const out: Array<{ table: Table; chain: string; line: string; target: string; owner: string | null }> = [];
  for (const [table, t] of saved) {
    for (const [chain, lines] of t.rules) {
      if (chain.startsWith('BICYCLE-')) continue;
      for (const line of lines) {
        const target = / -j (BICYCLE-[0-9a-f]{6}-[A-Z]+\d*)\b/.exec(line)?.[1];
        if (!target) continue;
        const owner = /--comment "?([^"]+?)"?( -|$)/.exec(line)?.[1] ?? null;
        out.push({ table, chain, line, target, owner });
      }
    }
  }
  return out;
}

/**
 * The iptables-restore --noflush input that makes the namespace hold
 * exactly `rules` for this node: its chains declared (which flushes them)
 * and filled, its chains that are no longer wanted flushed and deleted, and
 * each jump exactly once at the head of its built-in chain (a jump that is
 * missing, doubled or moved, say by an engine that restarted and put its own
 * rules first, is put back). `alsoRemove` names other chains to delete, such
 * as those a dead daemon left behind, with their jumps.
 */
export function restoreInput(rules: RuleSet, prefix: string, saved: Map<Table, SavedTable>, alsoRemove: { chains: Array<{ table: Table; chain: string }>; jumps: Array<{ table: Table; line: string }> } = { chains: [], jumps: [] }): string {
  const out: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const existing = saved.get(table) ?? { chains: [], rules: new Map<string, string[]>() };
    const wanted = new Set(rules.chains[table]);
    const stale = existing.chains.filter((c) => c.startsWith(`${prefix}-`) && !wanted.has(c));
    const removeOther = alsoRemove.chains.filter((c) => c.table === table && existing.chains.includes(c.chain)).map((c) => c.chain);
    out.push(`*${table}`);
    for (const chain of [...rules.chains[table], ...stale, ...removeOther]) out.push(`:${chain} - [0:0]`);
    for (const jump of alsoRemove.jumps) if (jump.table === table) out.push(jump.line.replace(/^-A /, '-D '));
    for (const jump of rules.jumps.filter((j) => j.table === table)) {
      const wantedLine = `-A ${jump.chain} ${jump.rule.join(' ')}`;
      const present = (existing.rules.get(jump.chain) ?? []).filter((l) => l.endsWith(` -j ${jump.rule[jump.rule.length - 1]}`));
      const head = existing.rules.get(jump.chain)?.[0];
      const inPlace = present.length === 1 && head === present[0] && sameRule(head!, wantedLine);
      if (inPlace) continue;
      for (const line of present) out.push(line.replace(/^-A /, '-D '));
      out.push(`-I ${jump.chain} 1 ${jump.rule.join(' ')}`);
    }
    out.push(...rules.rules[table]);
    for (const chain of [...stale, ...removeOther]) out.push(`-X ${chain}`);
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** The restore input that removes this node's chains and jumps (clean shutdown). */
export function removalInput(prefix: string, saved: Map<Table, SavedTable>): string {
  const out: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const existing = saved.get(table);
    if (!existing) continue;
    const mine = existing.chains.filter((c) => c.startsWith(`${prefix}-`));
    out.push(`*${table}`);
    for (const chain of mine) out.push(`:${chain} - [0:0]`);
    for (const [chain, lines] of existing.rules) {
      if (chain.startsWith(`${prefix}-`)) continue;
      for (const line of lines) if (new RegExp(` -j ${prefix}-[A-Z]+\\d*\\b`).test(line)) out.push(line.replace(/^-A /, '-D '));
    }
    for (const chain of mine) out.push(`-X ${chain}`);
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** iptables-save prints a comment without quotes when it has no spaces; compare rules ignoring that. */
function sameRule(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/"/g, '').replace(/\s+/g, ' ').trim();
  return norm(a) === norm(b);
}
