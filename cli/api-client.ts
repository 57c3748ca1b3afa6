import { randomUUID } from 'node:crypto';
import type {
  NodeLock,
  Availability, ClusterNode, ClusterState, JoinToken, NodePatch, Secret, Service, ServicePatch, ServiceSpec, ServiceSummary, ServiceVersion, Task,
} from './types';

/** An API token as GET /tokens lists it (never its secret). */
/** A link cut on demand, as GET /debug/links lists it. */
export interface DebugLink {
  peerId: string;
  name: string;
  address: string;
  direction: 'both' | 'in' | 'out';
  since: string;
}

export interface ApiToken {
  accessor: string;
  name: string;
  role: 'read' | 'operator' | 'admin';
  createdAt: string;
  expiresAt: string | null;
  expired: boolean;
  createdBy: string;
}

/** One write request a node received (GET /audit). */
export interface AuditRecord {
  id: number;
  at: string;
  actor: string;
  accessor: string | null;
  method: string;
  path: string;
  target: string | null;
  status: number;
  source: string | null;
}

/** An error answered by the daemon, or a failure to reach it. */
export class ApiError extends Error {
  /**
   * @param code   the daemon's stable error code, or a CLI one
   *               (`UNREACHABLE`, `BAD_RESPONSE`)
   * @param status the HTTP status, 0 when no answer came
   */
  constructor(readonly code: string, message: string, readonly status: number) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ClientOptions {
  fetch?: typeof fetch;
  /** Sleeps between 503 retries; injected so tests do not wait. */
  sleep?: (ms: number) => Promise<void>;
  /** How long 503 (no leader yet) is retried before it is reported. */
  retryUnavailableMs?: number;
  /** Per-request timeout, not applied to streams. */
  requestTimeoutMs?: number;
  /** An API token (BAT1-…), sent as `Authorization: Bearer …` with every request. */
  token?: string;
}

const WRITE_METHODS = new Set(['POST', 'PATCH', 'DELETE']);

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A small typed client of the bicycled REST API. Every method throws an
 * ApiError when the daemon answers an error or cannot be reached; a 503
 * (no leader yet) is retried with back-off for up to ~5 s first.
 */
export class ApiClient {
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly retryUnavailableMs: number;
  private readonly requestTimeoutMs: number;
  private readonly token: string | undefined;

  constructor(readonly baseUrl: string, options: ClientOptions = {}) {
    this.token = options.token;
    this.fetchFn = options.fetch ?? fetch;
    this.sleep = options.sleep ?? sleepMs;
    this.retryUnavailableMs = options.retryUnavailableMs ?? 5000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** GET /services: every service summarised (task counts, no tasks). */
  async listServices(): Promise<ServiceSummary[]> {
    return (await this.json<{ services: ServiceSummary[] }>('GET', '/services')).services;
  }

  /** GET /services?tasks=true: every service with its current tasks (and a bounded history). */
  async listServicesWithTasks(): Promise<Service[]> {
    return (await this.json<{ services: Service[] }>('GET', '/services?tasks=true')).services;
  }

  /** Every task of the service, history included: GET /services/:name/tasks, page after page. */
  async listTasks(name: string, pageSize = 1000): Promise<Task[]> {
    const tasks: Task[] = [];
    let after: string | null = null;
    do {
      const query: string = after ? `?limit=${pageSize}&after=${encodeURIComponent(after)}` : `?limit=${pageSize}`;
      const page: { tasks: Task[]; next: string | null } = await this.json('GET', `/services/${enc(name)}/tasks${query}`);
      tasks.push(...page.tasks);
      after = page.next;
    } while (after);
    return tasks;
  }

  getService(name: string): Promise<Service> {
    return this.json<Service>('GET', `/services/${enc(name)}`);
  }

  /** GET /services/:name, or null when the daemon answers 404. */
  async findService(name: string): Promise<Service | null> {
    try {
      return await this.getService(name);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  createService(spec: ServiceSpec): Promise<Service> {
    return this.json<Service>('POST', '/services?wait=false', spec);
  }

  updateService(name: string, patch: ServicePatch): Promise<Service> {
    return this.json<Service>('PATCH', `/services/${enc(name)}`, patch);
  }

  /** POST /services/:name/rollback: back to `toVersion`, or to the version before the current one. */
  rollbackService(name: string, toVersion?: number): Promise<Service> {
    return this.json<Service>('POST', `/services/${enc(name)}/rollback`, toVersion === undefined ? {} : { version: toVersion });
  }

  /** GET /services/:name/history: the recorded spec versions, newest first. */
  async serviceHistory(name: string): Promise<ServiceVersion[]> {
    return (await this.json<{ versions: ServiceVersion[] }>('GET', `/services/${enc(name)}/history`)).versions;
  }

  removeService(name: string): Promise<Service> {
    return this.json<Service>('DELETE', `/services/${enc(name)}`);
  }

  async listNodes(): Promise<ClusterNode[]> {
    return (await this.json<{ nodes: ClusterNode[] }>('GET', '/nodes')).nodes;
  }

  /** PATCH /nodes/:id, `idOrName` being a node's id or name; answers the node. */
  setNodeAvailability(idOrName: string, availability: Availability): Promise<ClusterNode> {
    return this.updateNode(idOrName, { availability });
  }

  /** PATCH /nodes/:id with availability and labels (whole, or labelAdd/labelRm merged by the daemon); answers the node. */
  updateNode(idOrName: string, patch: NodePatch): Promise<ClusterNode> {
    return this.json<ClusterNode>('PATCH', `/nodes/${enc(idOrName)}`, patch);
  }

  /** GET /nodes/:id */
  getNode(idOrName: string): Promise<ClusterNode> {
    return this.json<ClusterNode>('GET', `/nodes/${enc(idOrName)}`);
  }

  /** DELETE /nodes/:id; answers the removed node's name. */
  async removeNode(idOrName: string): Promise<string> {
    return (await this.json<{ removed: string }>('DELETE', `/nodes/${enc(idOrName)}`)).removed;
  }

  /** POST /nodes/:id/promote or /demote; answers the node. */
  changeRole(idOrName: string, action: 'promote' | 'demote'): Promise<ClusterNode> {
    return this.json<ClusterNode>('POST', `/nodes/${enc(idOrName)}/${action}`);
  }

  getJoinToken(): Promise<JoinToken> {
    return this.json<JoinToken>('GET', '/cluster/join-token');
  }

  /** POST /cluster/join-token: a new join token; the old one admits nobody from then on. */
  rotateJoinToken(): Promise<JoinToken> {
    return this.json<JoinToken>('POST', '/cluster/join-token');
  }

  /** POST /services/:name/rebalance (202); answers the service, `rebalancing` set. */
  rebalanceService(name: string): Promise<Service> {
    return this.json<Service>('POST', `/services/${enc(name)}/rebalance`);
  }

  /** POST /rebalance (202); answers the names of the services asked to rebalance. */
  async rebalanceAll(): Promise<string[]> {
    return (await this.json<{ services: string[] }>('POST', '/rebalance')).services;
  }

  /** POST /tokens: the answer carries the token's secret, shown this once. */
  createToken(request: { name: string; role: string; ttlSeconds?: number }): Promise<ApiToken & { token: string }> {
    return this.json('POST', '/tokens', request);
  }

  async listTokens(): Promise<ApiToken[]> {
    return (await this.json<{ tokens: ApiToken[] }>('GET', '/tokens')).tokens;
  }

  /** DELETE /tokens/:id, by accessor id or name. */
  removeToken(idOrName: string): Promise<{ removed: string; accessor: string }> {
    return this.json('DELETE', `/tokens/${enc(idOrName)}`);
  }

  /** GET /debug/links: this node's links cut on demand (bicycled --debug-links). */
  async listLinks(): Promise<DebugLink[]> {
    return (await this.json<{ links: DebugLink[] }>('GET', '/debug/links')).links;
  }

  /** POST /debug/links: cut this node's link to a peer (id or name) or bring it up; answers the cut links after it. */
  async changeLink(change: { peer: string; state: 'cut' | 'up'; direction?: 'both' | 'in' | 'out' }): Promise<DebugLink[]> {
    return (await this.json<{ links: DebugLink[] }>('POST', '/debug/links', change)).links;
  }

  /** GET /audit: this node's audit log, oldest first. */
  async audit(query: { since?: number; limit?: number } = {}): Promise<AuditRecord[]> {
    const params = new URLSearchParams();
    if (query.since !== undefined) params.set('since', String(query.since));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const qs = params.toString();
    return (await this.json<{ records: AuditRecord[] }>('GET', `/audit${qs ? `?${qs}` : ''}`)).records;
  }

  async listSecrets(): Promise<Secret[]> {
    return (await this.json<{ secrets: Secret[] }>('GET', '/secrets')).secrets;
  }

  /** POST /secrets: the value travels in base64 and is never answered back. */
  createSecret(name: string, value: Buffer): Promise<Secret> {
    return this.json('POST', '/secrets', { name, data: value.toString('base64') });
  }

  /** PATCH /secrets/:name: a new value; the services that mount it roll to it. */
  updateSecret(name: string, value: Buffer): Promise<Secret> {
    return this.json('PATCH', `/secrets/${enc(name)}`, { data: value.toString('base64') });
  }

  removeSecret(name: string): Promise<{ name: string; id: string; removed: true }> {
    return this.json('DELETE', `/secrets/${enc(name)}`);
  }

  /** GET /node/lock: whether this node's secrets key is locked by its autolock passphrase. */
  nodeLock(): Promise<NodeLock> {
    return this.json('GET', '/node/lock');
  }

  /** POST /node/unlock: opens this node's locked secrets key with its passphrase. */
  unlockNode(passphrase: string): Promise<NodeLock> {
    return this.json('POST', '/node/unlock', { passphrase });
  }

  /** `limit`: how many containers to list (the daemon's default when absent). */
  getState(limit?: number): Promise<ClusterState> {
    return this.json<ClusterState>('GET', limit === undefined ? '/state' : `/state?limit=${limit}`);
  }

  /** Opens a streamed text body (logs); the caller reads it to the end. */
  async stream(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const res = await this.request('GET', path, undefined, signal);
    if (!res.body) throw new ApiError('BAD_RESPONSE', `empty body from ${path}`, res.status);
    return res.body;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const signal = AbortSignal.timeout(this.requestTimeoutMs);
    const res = await this.request(method, path, body, signal);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError('BAD_RESPONSE', `${method} ${path}: the daemon answered ${res.status} with a body that is not JSON`, res.status);
    }
  }

  /**
   * Sends, retrying a 503. A write carries one Idempotency-Key for all its
   * attempts, so a retry of a write the daemon did commit (its answer lost)
   * answers the first result instead of applying it again.
   */
  private async request(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const key = WRITE_METHODS.has(method) ? randomUUID() : undefined;
    let waitedMs = 0;
    let backoffMs = 100;
    for (;;) {
      const res = await this.send(method, path, body, signal, key);
      if (res.ok) return res;
      const error = await readError(res);
      if (res.status !== 503 || waitedMs >= this.retryUnavailableMs) throw error;
      const pauseMs = Math.min(backoffMs, this.retryUnavailableMs - waitedMs);
      await this.sleep(pauseMs);
      waitedMs += pauseMs;
      backoffMs = Math.min(backoffMs * 2, 1000);
    }
  }

  private async send(method: string, path: string, body: unknown, signal?: AbortSignal, idempotencyKey?: string): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const init: RequestInit = { method, headers };
    if (signal) init.signal = signal;
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...init.headers, 'content-type': 'application/json' };
    }
    try {
      return await this.fetchFn(this.baseUrl + path, init);
    } catch (err) {
      throw unreachable(this.baseUrl, err);
    }
  }
}

function enc(name: string): string {
  return encodeURIComponent(name);
}

/** Reads `{ error: { code, message } }`, falling back to the status text. */
export async function readError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const { code, message } = parsed.error ?? {};
    if (typeof message === 'string') {
      return new ApiError(typeof code === 'string' ? code : `HTTP_${res.status}`, message, res.status);
    }
  } catch {
    // not JSON: described below from the status
  }
  const detail = text.trim().split('\n')[0]?.slice(0, 200) || res.statusText || 'no message';
  return new ApiError(`HTTP_${res.status}`, `the daemon answered ${res.status}: ${detail}`, res.status);
}

/** Describes why fetch failed before any answer came. */
export function unreachable(baseUrl: string, err: unknown): ApiError {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new ApiError('UNREACHABLE', `no answer from bicycled at ${baseUrl} in time`, 0);
  }
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  const code = cause?.code ?? (err as { code?: string } | null)?.code;
  if (code === 'ECONNREFUSED') {
    return new ApiError('UNREACHABLE', `cannot reach bicycled at ${baseUrl}: is it running?`, 0);
  }
  if (cause?.message === 'bad port') {
    return new ApiError('UNREACHABLE', `cannot reach bicycled at ${baseUrl}: fetch refuses that port, choose another`, 0);
  }
  const why = cause?.message || (err instanceof Error ? err.message : String(err));
  return new ApiError('UNREACHABLE', `cannot reach bicycled at ${baseUrl}: ${why}`, 0);
}
