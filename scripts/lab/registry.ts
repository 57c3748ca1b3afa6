import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { waitFor } from './wait-for';

// A real image registry for tests and benchmarks that need pulls: Debian's docker-registry,
// plain HTTP, on an address the test chooses (an engine trusts it without
// TLS on loopback, or when started with --insecure-registry ADDRESS).

const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** host:port, the prefix of every image reference in it. */
  readonly address: string;
  stop(): void;
}

export async function startRegistry(address: string): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BINARY)) throw new Error(`${REGISTRY_BINARY} is missing: install Debian's docker-registry package (.ci/run does)`);
  const dir = mkdtempSync(join(tmpdir(), 'bicycle-registry-'));
  const config = join(dir, 'config.yml');
  writeFileSync(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${address}\n`);
  const child: ChildProcess = spawn(REGISTRY_BINARY, ['serve', config], { stdio: 'ignore' });
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`the registry on ${address}`, async () => (await fetch(`http://${address}/v2/`).catch(() => undefined))?.ok === true, 10_000);
  } catch (err) {
    stop();
    throw err;
  }
  return { address, stop };
}

export async function hasImage(docker: Docker, ref: string): Promise<boolean> {
  return docker.getImage(ref).inspect().then(() => true, () => false);
}

export async function removeImage(docker: Docker, ref: string): Promise<void> {
  await docker.getImage(ref).remove({ force: true }).catch(() => undefined);
}

/** Tags `source` as `ref` and pushes it from `docker`'s engine; the local tag is removed again, so only a pull brings it back. */
export async function pushImage(docker: Docker, source: string, ref: string): Promise<void> {
  const [repo, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
  await docker.getImage(source).tag({ repo, tag });
  // The engine asks for credentials on every push, even to a registry without any: an empty auth config.
  const stream = (await docker.getImage(ref).push({ authconfig: {} } as never)) as unknown as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err, out: Array<{ error?: string }>) => {
    const failed = err ?? out.find((o) => o.error)?.error;
    return failed ? reject(new Error(`push ${ref}: ${failed}`)) : resolve();
  }));
  await removeImage(docker, ref);
}

/** The images an engine pulled between two instants (unix seconds), from its own event log. */
export async function pullsBetween(docker: Docker, since: number, until: number): Promise<string[]> {
  const stream = (await docker.getEvents({ since, until, filters: { type: ['image'], event: ['pull'] } })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text.split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { id?: string; Actor?: { ID?: string } }).id ?? '');
}
