import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import Docker from 'dockerode';

/** What a command run to its end printed, and how it ended (code null: killed, e.g. by the timeout). */
export interface LabExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * One host of the lab: its network namespace (`netns`, with eth0 = `ip` on
 * the lab bridge), its engine (`socket`, `docker`) and its bicycled
 * (`address` = ip:port, `url`), with its files under `dir`.
 */
export class LabHost {
  readonly name: string;
  /** SUBNET.index: the host's eth0 in its namespace. */
  readonly ip: string;
  /** ip:port, where its bicycled listens and which it advertises. */
  readonly address: string;
  readonly url: string;
  readonly socket: string;
  readonly docker: Docker;

  constructor(
    readonly index: number,
    subnet: string,
    readonly port: number,
    /** The host's network namespace (under /var/run/netns). */
    readonly netns: string,
    readonly dir: string,
    /** https when the lab has TLS on. */
    scheme: 'http' | 'https' = 'http',
  ) {
    this.name = `host-${index}`;
    this.ip = `${subnet}.${index}`;
    this.address = `${this.ip}:${port}`;
    this.url = `${scheme}://${this.address}`;
    this.socket = join(dir, 'docker.sock');
    this.docker = new Docker({ socketPath: this.socket });
  }

  /**
   * The command line that runs `argv` inside this host's network namespace
   * (nothing else of the process changes: files, mounts and cgroups are the
   * machine's). nsenter executes argv in its own place, so the pid of a
   * process started this way is the command's.
   */
  command(argv: readonly string[]): string[] {
    if (argv.length === 0) throw new Error('a command to run in the namespace is needed');
    return ['nsenter', `--net=/var/run/netns/${this.netns}`, ...argv];
  }

  /** Starts `argv` inside this host's namespace (see command()); the caller owns the process. */
  spawn(argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const [file, ...args] = this.command(argv);
    return spawn(file!, args, options);
  }

  /** Runs `argv` inside this host's namespace to its end, or kills it after `timeoutMs`; never rejects for a failing command. */
  exec(argv: readonly string[], timeoutMs = 30_000): Promise<LabExecResult> {
    return new Promise((resolve, reject) => {
      const child = this.spawn(argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Whether a TCP connection from inside this host's namespace to `address` (ip:port) opens within `timeoutMs`. */
  async reaches(address: string, timeoutMs = 1000): Promise<boolean> {
    const [host, port] = splitAddress(address);
    const probe = `const s = require('node:net').connect({ host: ${JSON.stringify(host)}, port: ${port}, timeout: ${timeoutMs} });
s.on('connect', () => process.exit(0)); s.on('timeout', () => process.exit(1)); s.on('error', () => process.exit(1));`;
    const result = await this.exec([process.execPath, '-e', probe], timeoutMs + 5_000);
    return result.code === 0;
  }
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error(`an address is ip:port, not ${address}`);
  return [address.slice(0, at), port];
}
