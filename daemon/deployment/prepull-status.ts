import type { Db } from '../../database/open-database';
import { getLocal, setLocal } from '../../database/queries';

/**
 * This node's pre-pull status: node-local knowledge (which images this
 * engine has pulled ahead), kept in local_state, never replicated. The
 * deployment thread writes it; GET /state shows it for this node.
 */

/** One image pull of the pre-pull. */
export interface PrepullStatus {
  service: string;
  image: string;
  state: 'pulling' | 'done' | 'failed';
  /** Why the last attempt failed (it is retried with back-off); null otherwise. */
  error: string | null;
}

const KEY = 'prepull';

/** This node's pre-pull status; [] before its deployment thread wrote any. */
export function readPrepullStatus(db: Db): PrepullStatus[] {
  const text = getLocal(db, KEY);
  if (!text) return [];
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? (value as PrepullStatus[]) : [];
  } catch {
    return [];
  }
}

/** Replaces this node's pre-pull status (written only when it changed: a write wakes every reader of the database). */
export function writePrepullStatus(db: Db, status: readonly PrepullStatus[]): void {
  const text = JSON.stringify(status);
  if (getLocal(db, KEY) !== text) setLocal(db, KEY, text);
}
