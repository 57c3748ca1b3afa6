import { spawn } from 'node:child_process';
import { bicycleJumps, parseSave, parseTrafficCounters, removalInput, restoreInput, type KernelCounts, type RuleSet, type Table } from './rules';

/**
 * The packet filter as the traffic manager needs it: install exactly this
 * node's rule set, or remove it. Implemented by Iptables (the iptables and
 * iptables-restore commands, nf_tables or legacy alike).
 */
export interface PacketRules {
  /** Makes this network namespace hold exactly `rules` for this node (and removes what dead daemons left). Throws with the command's complaint. */
  apply(rules: RuleSet): Promise<void>;
  /** Removes this node's chains and the jumps into them. */
  remove(): Promise<void>;
  /**
   * What the kernel path carried by service since this object was made: the
   * counting rules' counters, with what earlier rule sets had counted before
   * each apply rewrote them. Throws with the command's complaint.
   */
  counters(): Promise<KernelCounts[]>;
}

export type RunCommand = (command: string, args: string[], input?: string) => Promise<string>;

/** Runs a command, feeding `input` on stdin; resolves with stdout, rejects with stderr on a non-zero exit. */
export const runCommand: RunCommand = (command, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} exited with ${code}: ${stderr.trim().split('\n').slice(0, 3).join('; ')}`))));
    if (child.stdin) {
      // A command that exits before reading all of its input closes the pipe: its exit code says what happened.
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });

/** The owner comment on this daemon's jumps: `bicycle pid=<pid>`, so a later daemon can tell a dead one's leftovers. */
export function ownerComment(pid: number): string {
  return `bicycle pid=${pid}`;
}

export class Iptables implements PacketRules {
  private collected = false;
  /** Counts of rule sets that an apply replaced (declaring a chain again zeroes its counters). */
  private readonly banked = new Map<string, KernelCounts>();
  /** apply and counters one at a time: a read between an apply's save and its restore would count a rule set twice. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly prefix: string,
    private readonly run: RunCommand = runCommand,
    private readonly isAlive: (pid: number) => boolean = processAlive,
  ) {}

  apply(rules: RuleSet): Promise<void> {
    return this.serially(async () => {
      const text = await this.run('iptables-save', ['-c']);
      const saved = parseSave(text);
      let orphans = { chains: [] as Array<{ table: Table; chain: string }>, jumps: [] as Array<{ table: Table; line: string }> };
      if (!this.collected) {
        orphans = this.orphans(saved);
        this.collected = true;
      }
      await this.run('iptables-restore', ['--noflush', '--wait', '5'], restoreInput(rules, this.prefix, saved, orphans));
      // What arrived between the save and the restore is not counted: a few milliseconds' worth, at each rewrite.
      this.bank(parseTrafficCounters(text, this.prefix));
    });
  }

  counters(): Promise<KernelCounts[]> {
    return this.serially(async () => {
      const current = parseTrafficCounters(await this.run('iptables-save', ['-c', '-t', 'filter']), this.prefix);
      const services = new Set([...this.banked.keys(), ...current.keys()]);
      return [...services].map((service) => sum(service, this.banked.get(service), current.get(service)));
    });
  }

  private bank(counts: Map<string, KernelCounts>): void {
    for (const [service, c] of counts) this.banked.set(service, sum(service, this.banked.get(service), c));
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  remove(): Promise<void> {
    return this.serially(async () => {
      const text = await this.run('iptables-save', ['-c']);
      await this.run('iptables-restore', ['--noflush', '--wait', '5'], removalInput(this.prefix, parseSave(text)));
      this.bank(parseTrafficCounters(text, this.prefix));
    });
  }

  /** Chains and jumps of other Bicycle daemons in this namespace whose process is gone (killed without a clean stop). */
  private orphans(saved: ReturnType<typeof parseSave>) {
    const chains: Array<{ table: Table; chain: string }> = [];
    const jumps: Array<{ table: Table; line: string }> = [];
    const deadPrefixes = new Set<string>();
    for (const jump of bicycleJumps(saved)) {
      const prefix = jump.target.replace(/-[A-Z]+\d*$/, '');
      if (prefix === this.prefix) continue;
      const pid = Number(/^bicycle pid=(\d+)$/.exec(jump.owner ?? '')?.[1] ?? NaN);
      if (!Number.isInteger(pid) || this.isAlive(pid)) continue;
      deadPrefixes.add(prefix);
      jumps.push({ table: jump.table, line: jump.line });
    }
    for (const [table, t] of saved) {
      if (table !== 'nat' && table !== 'filter') continue;
      for (const chain of t.chains) if ([...deadPrefixes].some((p) => chain.startsWith(`${p}-`))) chains.push({ table, chain });
    }
    return { chains, jumps };
  }
}

function sum(service: string, a: KernelCounts | undefined, b: KernelCounts | undefined): KernelCounts {
  return {
    service,
    connections: (a?.connections ?? 0) + (b?.connections ?? 0),
    bytesIn: (a?.bytesIn ?? 0) + (b?.bytesIn ?? 0),
    bytesOut: (a?.bytesOut ?? 0) + (b?.bytesOut ?? 0),
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
