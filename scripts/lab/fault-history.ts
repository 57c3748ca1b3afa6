import { checkLinearizable, kvModel, type KvInput, type Operation } from '../../test/sim/linearizability';
import { Rng } from '../../test/sim/prng';
import type { Lab } from './lab';
import { waitFor } from './wait-for';

/**
 * A Jepsen-style run on the lab, from outside, as an operator would try it:
 * clients write and read (linearizable reads, `?consistent=true`) a few
 * registers and create services, on random hosts, while a fault strikes
 * every few seconds — a daemon killed with SIGKILL and started again, a host
 * cut off from both others, a one-way partition, a daemon paused with
 * SIGSTOP. Then everything is healed, and the history is checked: the
 * register operations must be linearizable, every acknowledged create must
 * be there, and no daemon may have logged a crashed thread or an uncaught
 * error.
 *
 * A register is a service with no replicas (nothing runs on the engines);
 * its value is the label `v`. A write is `PATCH /services/reg-K {labels}`,
 * a read `GET /services/reg-K?consistent=true`. An answer that never came
 * (a timeout, a reset, a 5xx) leaves the write's outcome unknown, as the
 * checker allows; a refused write (4xx) had no effect.
 */
export type FaultKind = 'kill' | 'partition' | 'one-way' | 'pause';

export interface FaultRunOptions {
  durationMs: number;
  /** A fault starts every faultEveryMs[0]..faultEveryMs[1] ms and lasts faultMs. */
  faultEveryMs: [number, number];
  faultMs: number;
  clients: number;
  registers: number;
  seed: number;
  image: string;
  log?: (line: string) => void;
}

export interface FaultRunReport {
  seed: number;
  ops: number;
  ok: number;
  failed: number;
  unknown: number;
  reads: number;
  writes: number;
  creates: { acknowledged: number; present: number; lost: string[] };
  faults: Record<FaultKind, number>;
  linearizable: boolean;
  /** Lines of the daemons' logs that say a thread crashed or an error went uncaught. */
  crashes: string[];
  durationMs: number;
}

type Outcome = { kind: 'ok'; body: any } | { kind: 'refused'; status: number } | { kind: 'unknown'; why: string };

async function request(url: string, method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<Outcome> {
  try {
    const res = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (res.status >= 200 && res.status < 300) return { kind: 'ok', body: text ? JSON.parse(text) : undefined };
    if (res.status >= 400 && res.status < 500) return { kind: 'refused', status: res.status };
    return { kind: 'unknown', why: `HTTP ${res.status}` };
  } catch (error) {
    return { kind: 'unknown', why: (error as Error).message };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runFaultHistory(lab: Lab, o: FaultRunOptions): Promise<FaultRunReport> {
  const prng = new Rng(o.seed);
  const random = () => prng.next();
  const log = o.log ?? (() => undefined);
  const hosts = lab.hosts.map((h) => h.index);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const keys = Array.from({ length: o.registers }, (_, i) => `reg-${i}`);
  for (const key of keys) {
    const res = await request(lab.host(1).url, 'POST', '/services?wait=true&timeout=30', { name: key, image: o.image, replicas: 0, labels: { v: '' } }, 35_000);
    if (res.kind !== 'ok') throw new Error(`cannot create the register ${key}: ${JSON.stringify(res)}`);
  }
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const ops: Array<Operation<KvInput, string>> = [];
  const counts = { ops: 0, ok: 0, failed: 0, unknown: 0, reads: 0, writes: 0 };
  const acknowledged: string[] = [];
  let stopped = false;

  const client = async (c: number) => {
    let n = 0;
    while (!stopped) {
      const host = lab.host(pick(hosts));
      const dice = random();
      const key = pick(keys);
      const call = now();
      counts.ops++;
      if (dice < 0.4) {
        const value = `${c}-${n++}`;
        const res = await request(host.url, 'PATCH', `/services/${key}`, { labels: { v: value } });
        counts.writes++;
        if (res.kind === 'refused') {
          counts.failed++;
          continue;
        }
        if (res.kind === 'ok') counts.ok++;
        else counts.unknown++;
        ops.push({ input: { kind: 'put', key, value }, output: '', call, ret: res.kind === 'ok' ? now() : Infinity });
      } else if (dice < 0.8) {
        const res = await request(host.url, 'GET', `/services/${key}?consistent=true`);
        counts.reads++;
        if (res.kind === 'ok') {
          counts.ok++;
          ops.push({ input: { kind: 'get', key }, output: String(res.body?.labels?.v ?? ''), call, ret: now() });
        } else if (res.kind === 'refused') counts.failed++;
        else counts.unknown++;
      } else {
        const name = `acked-${c}-${n++}`;
        const res = await request(host.url, 'POST', '/services', { name, image: o.image, replicas: 0 });
        if (res.kind === 'ok') {
          counts.ok++;
          acknowledged.push(name);
        } else if (res.kind === 'refused') counts.failed++;
        else counts.unknown++;
      }
    }
  };

  const faults: Record<FaultKind, number> = { kill: 0, partition: 0, 'one-way': 0, pause: 0 };
  const nemesis = async () => {
    // A kill's restart takes longest on a loaded machine: it comes last, so a short run still meets the other three first.
    const kinds: FaultKind[] = ['partition', 'one-way', 'pause', 'kill'];
    let turn = 0;
    await sleep(1500);
    while (now() < o.durationMs - o.faultMs - 1000) {
      // Every kind in turn, each on a random host: a short run still meets all four.
      const kind = kinds[turn++ % kinds.length]!;
      const victim = pick(hosts);
      const others = hosts.filter((h) => h !== victim);
      faults[kind]++;
      log(`${(now() / 1000).toFixed(1)} s: ${kind} host-${victim}`);
      if (kind === 'kill') {
        lab.signalDaemon(victim, 'SIGKILL');
        await sleep(o.faultMs);
        await lab.startDaemon(lab.host(victim));
      } else if (kind === 'pause') {
        lab.signalDaemon(victim, 'SIGSTOP');
        await sleep(o.faultMs);
        lab.signalDaemon(victim, 'SIGCONT');
      } else {
        for (const other of others) await lab.partition(victim, other, { oneWay: kind === 'one-way' });
        await sleep(o.faultMs);
        await lab.heal();
      }
      const [lo, hi] = o.faultEveryMs;
      await sleep(Math.max(0, lo + random() * (hi - lo) - o.faultMs));
    }
  };

  const clients = Array.from({ length: o.clients }, (_, c) => client(c));
  await Promise.race([nemesis(), sleep(o.durationMs + 60_000)]);
  while (now() < o.durationMs) await sleep(100);
  stopped = true;
  await Promise.all(clients);

  // Heal everything, let every host catch up, then read what survived.
  await lab.heal();
  for (const i of hosts) lab.signalDaemon(i, 'SIGCONT');
  await lab.settled(60_000);
  const present = await waitFor('a consistent list of the services', async () => {
    const res = await request(lab.host(1).url, 'GET', '/services?consistent=true', undefined, 10_000);
    return res.kind === 'ok' ? new Set<string>((res.body.services as Array<{ name: string }>).map((s) => s.name)) : undefined;
  }, 30_000, 500);
  const lost = acknowledged.filter((name) => !present.has(name));
  const result = checkLinearizable(kvModel, ops, 5_000_000);
  const crashes: string[] = [];
  for (const i of hosts) {
    for (const line of lab.output(i).split('\n')) {
      if (/thread crashed|uncaught|unhandled/i.test(line)) crashes.push(`host-${i}: ${line.slice(0, 300)}`);
    }
  }
  return {
    seed: o.seed,
    ...counts,
    creates: { acknowledged: acknowledged.length, present: acknowledged.length - lost.length, lost },
    faults,
    linearizable: result.ok,
    crashes,
    durationMs: Math.round(now()),
  };
}
