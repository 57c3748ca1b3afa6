import type { Db } from '../../database/open-database';
import type { Command } from '../../database/commands';
import { applyCommand, type ApplyResult, type Table } from '../../database/apply-command';
import { getLocal, setLocal } from '../../database/queries';

export interface Committed {
  index: number;
  result: ApplyResult;
  touched: Table[];
}

/**
 * The single-node commit rule: a command is committed once it is in the
 * command log, and it is applied in the same transaction that appends it and
 * records the applied index, so a crash leaves either both or neither.
 * The Raft log replaces only this rule; callers keep calling propose.
 */
export class CommandLog {
  private readonly append: (command: Command, term: number) => Committed;
  /** Entries kept behind the applied index; older ones are compacted away. */
  private readonly retainEntries: number;

  constructor(private readonly db: Db, options: { retainEntries?: number } = {}) {
    this.retainEntries = options.retainEntries ?? 10_000;
    const insert = db.prepare('INSERT INTO command_log (idx, term, command, result) VALUES (?, ?, ?, ?)');
    const compact = db.prepare('DELETE FROM command_log WHERE idx <= ?');
    this.append = db.transaction((command: Command, term: number): Committed => {
      const index = this.appliedIndex() + 1;
      const touched = new Set<Table>();
      const result = applyCommand(db, command, touched);
      insert.run(index, term, JSON.stringify(command), JSON.stringify(result));
      setLocal(db, 'applied_index', String(index));
      if (index % 1000 === 0) compact.run(index - this.retainEntries);
      return { index, result, touched: [...touched] };
    });
  }

  appliedIndex(): number {
    return Number(getLocal(this.db, 'applied_index') ?? 0);
  }

  /** Appends, commits and applies one command. Throws only on a storage fault. */
  commit(command: Command, term: number): Committed {
    return this.append(command, term);
  }
}
