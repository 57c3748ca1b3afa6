import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { NodeTlsFiles } from './node-files';

/** What node-to-node requests go through: plain fetch (insecure) or fetch over mutual TLS. */
export interface PeerHttp {
  /** `http` with --insecure, else `https`. */
  readonly scheme: 'http' | 'https';
  /** fetch, through mutual TLS when `scheme` is https (this node's certificate, trusting the cluster CA). */
  fetch(url: string, init: RequestInit): Promise<Response>;
  /**
   * A GET asking to switch to `protocol` (a long-lived stream, e.g. the Raft
   * stream): the connection once answered 101, or UpgradeRefused when
   * answered otherwise. Absent: this client has no streams (requests only).
   */
  upgrade?(url: string, protocol: string, headers: Record<string, string>, timeoutMs: number): Promise<Duplex>;
  close(): void;
}

/** The peer answered an upgrade with `status`, not 101 (404: it has no such stream). */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`answered ${status} instead of switching protocols${body ? `: ${body.slice(0, 200)}` : ''}`);
  }
}

/** Sends an upgrade request and gives the connection once switched (see PeerHttp.upgrade). */
function openUpgrade(send: (options: RequestOptions) => ClientRequest, url: string, protocol: string, headers: Record<string, string>, timeoutMs: number, extra: RequestOptions = {}): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const request = send({ ...urlOptions(url), ...extra, method: 'GET', agent: false, headers: { ...headers, connection: 'Upgrade', upgrade: protocol } });
    const timer = setTimeout(() => request.destroy(new Error(`no answer to the upgrade within ${timeoutMs} ms`)), timeoutMs);
    request.on('upgrade', (_res: IncomingMessage, socket: Duplex, head: Buffer) => {
      clearTimeout(timer);
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    request.on('response', (res: IncomingMessage) => {
      clearTimeout(timer);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk.slice(0, 1000)));
      res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body)));
      res.on('error', reject);
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end();
  });
}

function urlOptions(url: string): RequestOptions {
  const u = new URL(url);
  return { hostname: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, path: `${u.pathname}${u.search}` };
}

/** Node-to-node requests in clear HTTP (--insecure): the cluster secret authenticates them. */
export class PlainPeerHttp implements PeerHttp {
  readonly scheme = 'http' as const;

  fetch(url: string, init: RequestInit): Promise<Response> {
    return fetch(url, init);
  }

  upgrade(url: string, protocol: string, headers: Record<string, string>, timeoutMs: number): Promise<Duplex> {
    return openUpgrade(httpRequest, url, protocol, headers, timeoutMs);
  }

  close(): void {}
}

/**
 * Node-to-node requests over mutual TLS: the client presents this node's
 * certificate and trusts the cluster CA (and the usual public roots, for a
 * member whose listener serves a certificate given with --tls-cert). The
 * files are re-read when they change (a renewal), at most once a second,
 * and a new connection pool is made for the new certificate; before this
 * node has a certificate (a joiner) it presents none.
 */
export class MutualTlsPeerHttp implements PeerHttp {
  readonly scheme = 'https' as const;
  private readonly agent: ReloadingClient<{ dispatcher: Agent; secureContext: SecureContext }>;

  constructor(files: NodeTlsFiles, now: () => number = Date.now) {
    this.agent = new ReloadingClient(files, now, ({ ca, cert, key }) => {
      // One secure context for every connection: parsing the CA list (with the public roots) per handshake is costly.
      const secureContext = createSecureContext({ ca, cert, key });
      return { dispatcher: new Agent({ keepAliveTimeout: 60_000, connect: { secureContext } }), secureContext };
    }, (old) => void old.dispatcher.close());
  }

  fetch(url: string, init: RequestInit): Promise<Response> {
    return undiciFetch(url, { ...(init as object), dispatcher: this.agent.get().dispatcher as Dispatcher } as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>;
  }

  upgrade(url: string, protocol: string, headers: Record<string, string>, timeoutMs: number): Promise<Duplex> {
    return openUpgrade(httpsRequest, url, protocol, headers, timeoutMs, { secureContext: this.agent.get().secureContext } as RequestOptions);
  }

  close(): void {
    this.agent.close();
  }
}

/**
 * A node:https agent for node-to-node streams that may stay silent for
 * hours (a peer's container log followed, modules/service-logs.ts), which
 * fetch would give up on: it presents this node's certificate and trusts
 * the cluster CA, reloaded after a renewal like MutualTlsPeerHttp.
 */
export class PeerHttpsAgent {
  private readonly agent: ReloadingClient<HttpsAgent>;

  constructor(files: NodeTlsFiles, now: () => number = Date.now) {
    this.agent = new ReloadingClient(files, now, (tls) => new HttpsAgent({ keepAlive: true, ...tls }), (old) => old.destroy());
  }

  get(): HttpsAgent {
    return this.agent.get();
  }

  close(): void {
    this.agent.close();
  }
}

/**
 * A client built from this node's TLS files (the cluster CA with the public
 * roots, for a member whose listener serves a --tls-cert certificate; this
 * node's certificate and key once it has them). The files are looked at
 * again at most once a second, and a new client is made (the old one
 * disposed of) when they changed: a renewal.
 */
class ReloadingClient<T> {
  private client: T | undefined;
  private loaded = '';
  private checkedAt = 0;

  constructor(
    private readonly files: NodeTlsFiles,
    private readonly now: () => number,
    private readonly make: (tls: { ca: string[] | undefined; cert: string | undefined; key: string | undefined }) => T,
    private readonly dispose: (old: T) => void,
  ) {}

  get(): T {
    const now = this.now();
    if (this.client && now - this.checkedAt < 1000) return this.client;
    this.checkedAt = now;
    const ca = this.files.caCert();
    const node = this.files.node();
    const key = `${ca ?? ''}|${node?.certPem ?? ''}`;
    if (!this.client || key !== this.loaded) {
      const old = this.client;
      this.client = this.make({ ca: ca ? [ca, ...rootCertificates] : undefined, cert: node?.certPem, key: node?.keyPem });
      this.loaded = key;
      if (old) this.dispose(old);
    }
    return this.client;
  }

  close(): void {
    if (this.client) this.dispose(this.client);
    this.client = undefined;
  }
}

/** Requests to the members of a cluster this node is joining: trusting exactly the CA it checked, presenting no certificate yet. */
export function joiningHttp(scheme: 'http' | 'https', caPem: string | null): Pick<PeerHttp, 'scheme' | 'fetch'> {
  if (scheme === 'http') return new PlainPeerHttp();
  const agent = oneShotAgent(caPem);
  return {
    scheme,
    fetch: (url, init) => undiciFetch(url, { ...(init as object), dispatcher: agent } as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>,
  };
}

/** A dispatcher that trusts exactly `caPem` (a joiner, after checking the CA's fingerprint) or nothing checked at all (fetching the CA to check it). */
export function oneShotAgent(caPem: string | null): Agent {
  return new Agent({ connect: caPem ? { ca: [caPem] } : { rejectUnauthorized: false } });
}

export { undiciFetch };
