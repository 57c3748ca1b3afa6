import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { BicycleError } from './errors';
import { connectDocker, LABELS } from './docker-client';
import { DockerRuntime } from './deployment/docker-runtime';

/** Where `--store memory` keeps a node's state: a RAM filesystem (tmpfs) every Linux host mounts. */
export const RAM_ROOT = '/dev/shm';
const OWNER_FILE = 'owner.pid';

/** A memory store made for this process. */
export interface MemoryStore {
  /** The private (0700) directory on the RAM filesystem: database, TLS files, secrets key, secret files, daemon log. */
  readonly dir: string;
  /**
   * The node id of a previous process on the same data directory that was killed before it could
   * clean up (its directory was still there); its containers are nobody's now. Null when none.
   */
  readonly previousNodeId: string | null;
}

/** The memory store's directory for a data directory: one per data directory, so the next start finds what a killed one left. */
export function memoryStoreDir(dataDir: string, root = RAM_ROOT): string {
  const key = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16);
  return join(root, `bicycle-${key}`);
}

/**
 * Makes a fresh memory store for `dataDir`. A directory left by a killed
 * process is read for that node's id, then removed. Throws
 * INVALID_ARGUMENT when `root` is not a directory (no RAM filesystem) or
 * another live process holds the store of this data directory.
 */
export function openMemoryStore(dataDir: string, root = RAM_ROOT): MemoryStore {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new BicycleError('INVALID_ARGUMENT', `invalid configuration: store: memory keeps the node's state on the RAM filesystem ${root}, which this host does not have; use --store persisted`);
  }
  const dir = memoryStoreDir(dataDir, root);
  let previousNodeId: string | null = null;
  if (existsSync(dir)) {
    const owner = readOwner(dir);
    if (owner !== null && owner !== process.pid && isAlive(owner)) {
      throw new BicycleError('INVALID_ARGUMENT', `another bicycled (pid ${owner}) runs with --store memory on the data directory ${resolve(dataDir)} (${dir}); stop it first or give another --data-dir`);
    }
    previousNodeId = readNodeId(join(dir, 'bicycle.db'));
    rmSync(dir, { recursive: true, force: true });
  }
  // Not recursive: fails if the name was taken in between, so the directory is always this process's own.
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, OWNER_FILE), String(process.pid), { mode: 0o600 });
  return { dir, previousNodeId };
}

/** Removes the store's directory and all in it. */
export function removeMemoryStore(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes the containers of node `nodeId` on the local engine (stop with the
 * grace period, then remove). A memory node's containers can never be
 * adopted (the next start is another node), so they go when the node does.
 * Called from the main thread when no worker runs (before the first start,
 * after the last stop): the one use of the engine outside the deployment
 * and monitoring threads.
 * @returns how many were removed
 */
export async function removeNodeContainers(dockerSocket: string, nodeId: string, stopGracePeriodMs: number): Promise<number> {
  const runtime = new DockerRuntime(connectDocker(dockerSocket), { init: false });
  const found = await runtime.list({ [LABELS.node]: nodeId });
  await Promise.all(found.map((c) => runtime.remove(c.id, stopGracePeriodMs)));
  return found.length;
}

function readOwner(dir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The node id a left-over database holds, or null if it has none or cannot be read. */
function readNodeId(file: string): string | null {
  if (!existsSync(file)) return null;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare("SELECT value FROM local_state WHERE key = 'node_id'").get() as { value: string } | undefined;
      return row?.value ?? null;
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
}
