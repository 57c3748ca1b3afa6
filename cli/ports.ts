import { InvalidArgumentError } from 'commander';
import type { PortMode, PortProxy, PublishedPort } from './types';

// `--publish`, `--publish-add` and `--publish-rm`: Docker's short and long
// syntaxes, plus our `proxy` key. Parsers throw InvalidArgumentError, which
// commander reports naming the option and the value (exit 2).

const KEYS = ['published', 'target', 'protocol', 'mode', 'proxy'] as const;
type Key = (typeof KEYS)[number];

const SYNTAX = 'PUBLISHED:TARGET[/tcp][,mode=ingress|host][,proxy=none|v1|v2], e.g. 8080:80, or published=8080,target=80[,...]';

/** A port published by number only (`--publish-rm 8080`), or with its target (`8080:80`). */
export interface PortRef {
  published: number;
  target?: number;
}

function portNumber(which: 'published' | 'target', text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 65_535) return n;
  }
  const range = /^\d+-\d+$/.test(text) ? ' (port ranges are not supported)' : '';
  throw new InvalidArgumentError(`${which} port must be a whole number from 1 to 65535, got "${text}"${range}`);
}

/**
 * Splits a port spec into its fields. The first comma-separated part is the
 * short syntax `PUBLISHED:TARGET[/PROTOCOL]` unless it holds "="; every other
 * part is `KEY=VALUE`. With `publishedAlone`, a short part without ":" is the
 * published port alone (what --publish-rm takes).
 */
function fields(text: string, publishedAlone: boolean): Map<Key, string> {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.every((p) => p === '')) throw new InvalidArgumentError(`expected ${SYNTAX}`);
  const found = new Map<Key, string>();
  const set = (key: Key, value: string) => {
    if (found.has(key)) throw new InvalidArgumentError(`${key} is given twice`);
    found.set(key, value);
  };
  let rest = parts;
  if (!parts[0]!.includes('=')) {
    rest = parts.slice(1);
    const [ports, protocol, ...extra] = parts[0]!.split('/');
    if (extra.length > 0) throw new InvalidArgumentError(`expected PUBLISHED:TARGET[/PROTOCOL], got "${parts[0]}"`);
    const pieces = ports!.split(':');
    if (pieces.length > 2) throw new InvalidArgumentError(`expected PUBLISHED:TARGET, got "${ports}" (a host address cannot be given)`);
    // Docker reads a lone number as the target and picks a published port: Bicycle does not pick one.
    if (pieces.length === 1 && !publishedAlone) throw new InvalidArgumentError('published port missing: give PUBLISHED:TARGET, e.g. 8080:80');
    const [published, target] = pieces;
    if (published === '') throw new InvalidArgumentError('published port missing: give PUBLISHED:TARGET, e.g. 8080:80');
    set('published', published!);
    if (target !== undefined) {
      if (target === '') throw new InvalidArgumentError(`target port missing: give PUBLISHED:TARGET, e.g. ${published}:80`);
      set('target', target);
    }
    if (protocol !== undefined) set('protocol', protocol);
  }
  for (const part of rest) {
    const at = part.indexOf('=');
    if (at <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got "${part}" (keys: ${KEYS.join(', ')})`);
    const key = part.slice(0, at).trim().toLowerCase();
    if (!(KEYS as readonly string[]).includes(key)) throw new InvalidArgumentError(`unknown key "${key}" (keys: ${KEYS.join(', ')})`);
    set(key as Key, part.slice(at + 1).trim());
  }
  return found;
}

function protocolOf(text: string): 'tcp' {
  const value = text.toLowerCase();
  if (value === 'tcp') return 'tcp';
  if (value === 'udp' || value === 'sctp') throw new InvalidArgumentError(`protocol ${value} is not supported (only tcp)`);
  throw new InvalidArgumentError(`protocol must be tcp, got "${text}"`);
}

function modeOf(text: string): PortMode {
  const value = text.toLowerCase();
  if (value === 'ingress' || value === 'host') return value;
  throw new InvalidArgumentError(`mode must be ingress or host, got "${text}"`);
}

function proxyOf(text: string): PortProxy {
  const value = text.toLowerCase();
  if (value === 'none' || value === 'v1' || value === 'v2') return value;
  throw new InvalidArgumentError(`proxy must be none, v1 or v2, got "${text}"`);
}

/**
 * One `--publish` / `--publish-add` value: `8080:80`, `8080:80/tcp`,
 * `8080:80,mode=host,proxy=v2`, or `published=8080,target=80,mode=host,protocol=tcp,proxy=v1`.
 * Answers the port with every field (tcp, ingress and no PROXY header unless given).
 */
export function parsePublish(text: string): PublishedPort {
  const f = fields(text, false);
  const published = f.get('published');
  if (published === undefined) throw new InvalidArgumentError('published port missing: give published=PORT');
  const publishedPort = portNumber('published', published);
  const target = f.get('target');
  if (target === undefined) throw new InvalidArgumentError('target port missing: give target=PORT');
  return {
    published: publishedPort,
    target: portNumber('target', target),
    protocol: protocolOf(f.get('protocol') ?? 'tcp'),
    mode: modeOf(f.get('mode') ?? 'ingress'),
    proxy: proxyOf(f.get('proxy') ?? 'none'),
  };
}

/** Collector for repeatable `--publish`: a published port given twice is refused. */
export function collectPublish(text: string, previous: PublishedPort[] = []): PublishedPort[] {
  const port = parsePublish(text);
  if (previous.some((p) => p.published === port.published)) throw new InvalidArgumentError(`published port ${port.published} is given twice`);
  return [...previous, port];
}

/**
 * One `--publish-rm` value: `8080`, `8080:80` (then the target must match
 * too) or the long syntax, in which keys besides published and target are
 * checked but not compared.
 */
export function parsePublishRm(text: string): PortRef {
  const f = fields(text, true);
  const published = f.get('published');
  if (published === undefined) throw new InvalidArgumentError('published port missing: give PUBLISHED, PUBLISHED:TARGET or published=PORT');
  const ref: PortRef = { published: portNumber('published', published) };
  const target = f.get('target');
  if (target !== undefined) ref.target = portNumber('target', target);
  if (f.has('protocol')) protocolOf(f.get('protocol')!);
  if (f.has('mode')) modeOf(f.get('mode')!);
  if (f.has('proxy')) proxyOf(f.get('proxy')!);
  return ref;
}

/** Collector for repeatable `--publish-rm`: a published port given twice is refused. */
export function collectPublishRm(text: string, previous: PortRef[] = []): PortRef[] {
  const ref = parsePublishRm(text);
  if (previous.some((p) => p.published === ref.published)) throw new InvalidArgumentError(`published port ${ref.published} is given twice`);
  return [...previous, ref];
}

function byPublished(a: PublishedPort, b: PublishedPort): number {
  return a.published - b.published;
}

/**
 * The port list after `--publish-rm` removals, then `--publish-add`
 * additions (an addition replaces the port with the same published number),
 * in order of published port. Throws an Error naming the port when a
 * removal names a port the service does not publish, or with another target.
 */
export function applyPortChanges(service: string, current: readonly PublishedPort[], add: readonly PublishedPort[], remove: readonly PortRef[]): PublishedPort[] {
  let next = [...current];
  for (const ref of remove) {
    const text = ref.target === undefined ? `${ref.published}` : `${ref.published}:${ref.target}`;
    const found = next.find((p) => p.published === ref.published);
    if (!found) throw new Error(`--publish-rm ${text}: ${service} does not publish port ${ref.published}`);
    if (ref.target !== undefined && found.target !== ref.target) {
      throw new Error(`--publish-rm ${text}: ${service} publishes port ${ref.published} to target ${found.target}, not ${ref.target}`);
    }
    next = next.filter((p) => p !== found);
  }
  for (const port of add) next = [...next.filter((p) => p.published !== port.published), port];
  return next.sort(byPublished);
}

/** True when both lists publish the same ports the same way, in whatever order. */
export function samePorts(a: readonly PublishedPort[], b: readonly PublishedPort[]): boolean {
  const text = (list: readonly PublishedPort[]) => JSON.stringify([...list].sort(byPublished).map(normalise));
  return text(a) === text(b);
}

function normalise(p: PublishedPort): PublishedPort {
  return { published: p.published, target: p.target, protocol: p.protocol ?? 'tcp', mode: p.mode ?? 'ingress', proxy: p.proxy ?? 'none' };
}

/**
 * One port as `service ls` shows it, like `docker service ls`: `*:8080->80/tcp`
 * for ingress (every node); host mode without the `*:` and marked
 * `8080->80/tcp (host)`; a PROXY header noted `(proxy v2)` or `(host, proxy v1)`.
 */
export function formatPort(port: PublishedPort): string {
  const p = normalise(port);
  const notes = [...(p.mode === 'host' ? ['host'] : []), ...(p.proxy !== 'none' ? [`proxy ${p.proxy}`] : [])];
  const base = `${p.mode === 'host' ? '' : '*:'}${p.published}->${p.target}/${p.protocol}`;
  return notes.length > 0 ? `${base} (${notes.join(', ')})` : base;
}

/** The PORTS cell: every port in order of published port, comma-separated; blank when none. */
export function formatPorts(ports: readonly PublishedPort[] | undefined): string {
  return [...(ports ?? [])].sort(byPublished).map(formatPort).join(', ');
}
