import { spawn } from 'node:child_process';
import { bicycleJumps, parseSave, removalInput, restoreInput, type RuleSet, type Table } from './rules';

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

  constructor(
    private readonly prefix: string,
    private readonly run: RunCommand = runCommand,
    private readonly isAlive: (pid: number) => boolean = processAlive,
  ) {}

  async apply(rules: RuleSet): Promise<void> {
    const saved = parseSave(await this.run('iptables-save', []));
    let orphans = { chains: [] as Array<{ table: Table; chain: string }>, jumps: [] as Array<{ table: Table; line: string }> };
    if (!this.collected) {
      orphans = this.orphans(saved);
      this.collected = true;
    }
    await this.run('iptables-restore', ['--noflush', '--wait', '5'], restoreInput(rules, this.prefix, saved, orphans));
  }

  async remove(): Promise<void> {
    const saved = parseSave(await this.run('iptables-save', []));
    await this.run('iptables-restore', ['--noflush', '--wait', '5'], removalInput(this.prefix, saved));
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

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
