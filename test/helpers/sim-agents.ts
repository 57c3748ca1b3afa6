import { JOIN_PATH, SESSION_PATH, VOTING_PATH, type JoinAnswer, type SessionAnswer, type SessionTask, type VotingAnswer } from '../../daemon/cluster-protocol';
import type { Command } from '../../database/commands';

/**
 * Simulated workers for the scale test and bench:c1m: each joins a real
 * cluster with link "session" through the join API, then asks a manager for
 * its tasks over the worker-session API (a long poll, which is also its
 * heartbeat) and reports each task it is given RUNNING, or SHUTDOWN once it
 * is told to stop, as one batch proposal to the leader: what a real agent
 * reports, without Docker. No containers run; the container id it reports
 * is made up.
 */
export interface SimAgentsOptions {
  /** The managers' base URLs (http://host:port); the workers' sessions are spread over them. */
  managers: string[];
  /** A join token of the cluster. */
  token: string;
  count: number;
  /** Names are `${prefix}-${i}`; ids `${prefix}-id-${i}`. */
  prefix?: string;
  /** How long an ask waits for a change (so the heartbeat period); default 1,000 ms, well within the default host-loss grace of 3 s. */
  waitMs?: number;
}

interface Worker {
  id: string;
  name: string;
  manager: string;
  running: boolean;
  /** Task id → the state reported for it and when, so a report is not repeated before the answer shows it (or 5 s pass). */
  reported: Map<string, { state: string; at: number }>;
  /** Its tasks as its answers told them (a full answer replaces them, a partial one is merged). */
  tasks: Map<string, SessionTask>;
  loop?: Promise<void>;
}

export class SimAgents {
  private readonly workers: Worker[];
  private secret = '';
  private readonly waitMs: number;
  /** Batches proposed and task reports in them; asks answered; errors seen (the last one kept). */
  readonly stats = { proposals: 0, reports: 0, asks: 0, errors: 0, lastError: '' };

  constructor(private readonly o: SimAgentsOptions) {
    const prefix = o.prefix ?? 'sim';
    this.waitMs = o.waitMs ?? 1000;
    this.workers = Array.from({ length: o.count }, (_, i) => ({
      id: `${prefix}-id-${i}`,
      name: `${prefix}-${i}`,
      manager: o.managers[i % o.managers.length]!,
      running: false,
      reported: new Map(),
      tasks: new Map(),
    }));
  }

  get ids(): string[] {
    return this.workers.map((w) => w.id);
  }

  /** Joins every worker (a few at a time, through the managers in turn), starting each one's session once it is a member. */
  async join(concurrency = 16): Promise<void> {
    let next = 0;
    const one = async () => {
      while (next < this.workers.length) {
        const i = next++;
        const w = this.workers[i]!;
        // Addresses no one listens on: a session worker is never called back (its logs are not readable).
        const body = { token: this.o.token, node: { id: w.id, name: w.name, address: `127.0.0.1:${20_000 + i}`, role: 'worker' }, link: 'session' };
        const answer = await postJson<JoinAnswer>(`${w.manager}${JOIN_PATH}`, body);
        this.secret = answer.grant.clusterSecret;
        // Its session (its heartbeat) starts as soon as it is a member, as a real worker's would: joining 1,000 takes longer than the host-loss grace.
        this.start([w.id]);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, one));
  }

  /** Starts every worker's session (or those of `ids`) that is not running: after stop(), or for a worker joined but stopped. */
  start(ids: readonly string[] = this.ids): void {
    for (const w of this.workers) {
      if (!ids.includes(w.id) || w.running) continue;
      w.running = true;
      w.loop = this.run(w);
    }
  }

  /** Stops these workers, as a host that is lost: no more asks (heartbeats) and no more reports. */
  async stop(ids: readonly string[] = this.ids): Promise<void> {
    const stopping = this.workers.filter((w) => ids.includes(w.id) && w.running);
    for (const w of stopping) w.running = false;
    await Promise.all(stopping.map((w) => w.loop));
  }

  private async run(w: Worker): Promise<void> {
    let after: number | undefined;
    while (w.running) {
      try {
        const answer = await postJson<SessionAnswer>(`${w.manager}${SESSION_PATH}`, { node: w.id, after, waitMs: this.waitMs }, this.secret);
        this.stats.asks++;
        if (!w.running) break;
        after = answer.index;
        if (answer.changed) await this.report(w, answer);
      } catch (error) {
        this.stats.errors++;
        this.stats.lastError = (error as Error).message;
        // Asked again from scratch: the next answer lists all its tasks.
        after = undefined;
        await sleep(250);
      }
    }
  }

  /** Reports RUNNING for each task the worker should run and SHUTDOWN for each it should stop, in one batch to the leader. */
  private async report(w: Worker, answer: SessionAnswer): Promise<void> {
    if (answer.full) w.tasks.clear();
    for (const t of answer.tasks ?? []) w.tasks.set(t.id, t);
    for (const id of answer.gone ?? []) w.tasks.delete(id);
    const now = Date.now();
    const commands: Command[] = [];
    const live = new Set<string>();
    for (const t of w.tasks.values()) {
      live.add(t.id);
      const want = t.desiredState === 'RUNNING' ? (t.state === 'ASSIGNED' || t.state === 'STARTING' ? 'RUNNING' : null) : t.state === 'ASSIGNED' || t.state === 'STARTING' || t.state === 'RUNNING' ? 'SHUTDOWN' : null;
      if (want === null) continue;
      const before = w.reported.get(t.id);
      if (before && before.state === want && now - before.at < 5000) continue;
      commands.push(want === 'RUNNING'
        ? { type: 'task.observe', taskId: t.id, state: 'RUNNING', containerId: `sim-${t.id}`, startedAt: now, health: 'none', at: now }
        : { type: 'task.observe', taskId: t.id, state: 'SHUTDOWN', containerId: t.containerId, at: now });
    }
    for (const id of w.reported.keys()) if (!live.has(id)) w.reported.delete(id);
    if (commands.length === 0 || !answer.leader) return;
    const reply = await postJson<VotingAnswer>(`http://${answer.leader.address}${VOTING_PATH}`, { kind: 'propose', command: { type: 'batch', commands }, forwarded: false }, this.secret);
    if (!reply.reply.ok) throw new Error(`report refused: ${reply.reply.error.code}: ${reply.reply.error.message}`);
    this.stats.proposals++;
    this.stats.reports += commands.length;
    for (const c of commands) if (c.type === 'task.observe') w.reported.set(c.taskId, { state: c.state, at: now });
  }
}

async function postJson<T>(url: string, body: unknown, secret?: string): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
