import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Db } from '../../database/open-database';
import { getSealedSecret, type PinnedSecretRef } from '../../database/secrets';
import { openSecret, SecretOpenError, secretAad } from '../secret-box';
import type { SecretsKeyring } from '../secrets-key';
import type { SecretMount } from './container-runtime';

const run = promisify(execFile);

/**
 * Where this node puts the secret files of its containers: a tmpfs the
 * daemon mounts for itself (`<data dir>/secrets`, mode 0700, never on a
 * disk), one directory per task, one file per secret, bind-mounted
 * read-only at its target in the container. A task's files are written
 * before its container is created or started, and removed when its
 * container goes (and by a sweep of tasks no container of this node has).
 */
export class SecretFiles {
  private mounted = false;
  /** The mount under way: concurrent starts wait for one mount, not stack several. */
  private mounting: Promise<void> | undefined;

  constructor(
    private readonly root: string,
    private readonly db: Db,
    private readonly keyring: SecretsKeyring,
  ) {}

  /**
   * Writes the task's secret files (opening each value with the cluster's
   * key) and returns the mounts its container needs. Throws, naming the
   * secret and never its value, when one cannot be opened or written.
   */
  async write(taskId: string, refs: readonly PinnedSecretRef[]): Promise<SecretMount[]> {
    if (refs.length === 0) return [];
    await this.ensureMounted();
    const key = this.keyring.key();
    const dir = join(this.root, taskId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return refs.map((ref, i) => {
      const sealed = getSealedSecret(this.db, ref.source, ref.version);
      if (!sealed) throw new Error(`secret ${ref.source} (version ${ref.version}) is not in this node's database (removed, or not replicated here yet)`);
      let value: Buffer;
      try {
        value = openSecret(key, sealed.value, secretAad(sealed.id, ref.source));
      } catch (error) {
        const reason = error instanceof SecretOpenError ? error.message : String(error);
        throw new Error(`cannot open secret ${ref.source} (version ${ref.version}) on this node: ${reason}`);
      }
      const file = join(dir, String(i));
      try {
        writeFileSync(file, value, { mode: Number.parseInt(ref.mode, 8) });
        chmodSync(file, Number.parseInt(ref.mode, 8));
      } finally {
        value.fill(0);
      }
      return { source: file, target: ref.target };
    });
  }

  /** Removes the task's files (nothing when it has none). */
  remove(taskId: string): void {
    if (!this.isMounted()) return;
    rmSync(join(this.root, taskId), { recursive: true, force: true });
  }

  /** Removes the files of every task not in `keep` (tasks with a container here, or a start under way). */
  sweep(keep: ReadonlySet<string>): void {
    if (!this.isMounted()) return;
    for (const taskId of readdirSync(this.root)) {
      if (!keep.has(taskId)) rmSync(join(this.root, taskId), { recursive: true, force: true });
    }
  }

  /** Unmounts the tmpfs when no task has files in it (at a clean stop); a running container's files stay. */
  async unmountIfEmpty(): Promise<void> {
    if (!this.isMounted() || readdirSync(this.root).length > 0) return;
    await run('umount', [this.root]);
    this.mounted = false;
  }

  private isMounted(): boolean {
    if (this.mounted) return true;
    this.mounted = mountPoints().has(this.root);
    return this.mounted;
  }

  private ensureMounted(): Promise<void> {
    if (this.isMounted()) return Promise.resolve();
    this.mounting ??= this.mount().finally(() => (this.mounting = undefined));
    return this.mounting;
  }

  private async mount(): Promise<void> {
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700,nosuid,nodev,noexec', 'tmpfs', this.root]);
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`secrets are kept on a tmpfs at ${this.root}, which bicycled could not mount (it needs root): ${(e.stderr || e.message).trim()}`);
    }
    this.mounted = true;
  }
}

/** The mount points of this process's mount namespace. */
function mountPoints(): Set<string> {
  const text = readFileSync('/proc/self/mounts', 'utf8');
  // Octal escapes in the mount point: \040 for a space.
  return new Set(text.split('\n').map((line) => (line.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)))));
}
