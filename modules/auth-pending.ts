import type { Logger } from '../daemon/logger';
import type { ApplyResult } from '../database/apply-command';
import type { Command } from '../database/commands';
import type { Db } from '../database/open-database';
import { getToken, readPendingTokens, removePendingToken } from '../database/tokens';

/**
 * Proposes the tokens waiting in this node's local_state (minted by
 * `bicycled --init` or `bicycled token bootstrap`, database/tokens.ts) as
 * `token.create` commands, and drops each once the replicated table holds it
 * or it can never go in (its name is taken by another token). One left
 * waiting (no leader yet) is tried again on the next call. Returns how many
 * went in.
 */
export async function proposePendingTokens(db: Db, propose: (command: Command) => Promise<ApplyResult>, log: Logger, now: number): Promise<number> {
  let created = 0;
  for (const pending of readPendingTokens(db)) {
    if (getToken(db, pending.accessor)) {
      removePendingToken(db, pending.accessor);
      continue;
    }
    let result: ApplyResult;
    try {
      result = await propose({ type: 'token.create', ...pending, at: now });
    } catch (error) {
      log.debug('a pending API token waits for the leader', { token: pending.name, error: (error as Error).message });
      continue;
    }
    if (result.ok || getToken(db, pending.accessor)) {
      created++;
      log.info('API token created', { token: pending.name, accessor: pending.accessor, role: pending.role, by: pending.createdBy });
    } else {
      log.error('an API token minted on this node cannot be created; mint another with `bicycled token bootstrap --name …`', { token: pending.name, error: result.error.message });
    }
    removePendingToken(db, pending.accessor);
  }
  return created;
}
