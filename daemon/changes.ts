import { BroadcastChannel } from 'node:worker_threads';
import { CHANGES_CHANNEL, type ChangeNote } from './messages';
import type { Table } from '../database/apply-command';

/**
 * The "changed: <table>" notes. A note only wakes a loop early; every loop
 * re-reads the rows it needs, so a lost note costs latency, never correctness.
 */
export class ChangeNotes {
  private readonly channel = new BroadcastChannel(CHANGES_CHANNEL);
  private readonly listeners = new Set<(note: ChangeNote) => void>();

  constructor() {
    (this.channel as unknown as { unref(): void }).unref();
    this.channel.onmessage = (event) => {
      const note = (event as { data: ChangeNote }).data;
      for (const listener of this.listeners) listener(note);
    };
  }

  publish(tables: Table[]): void {
    if (tables.length > 0) this.channel.postMessage({ tables } satisfies ChangeNote);
  }

  /** Calls `listener` for every note from another thread; returns the unsubscribe function. */
  subscribe(listener: (note: ChangeNote) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.listeners.clear();
    this.channel.close();
  }
}
