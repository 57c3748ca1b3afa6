import { randomBytes } from 'node:crypto';
import { openDatabase } from '../../database/open-database';
import { getLocal, getMeta, setLocal } from '../../database/queries';
import type { Command } from '../../database/commands';
import { CommandLog } from '../voting/command-log';
import { ChangeNotes } from '../changes';
import { createThreadLogger, errorMessage } from '../logger';
import { reportFatal, runThread, sendTo, workerContext } from '../thread-runtime';
import { toErrorData } from '../errors';
import type { ThreadMessage, ThreadName } from '../messages';

/**
 * The voting thread. It owns the only write path to the replicated tables:
 * propose → commit → apply. With one node the node is the leader of term 1
 * at once and a command commits as soon as it is in the log.
 */
const { config, databaseFile, nodeId } = workerContext();
const log = createThreadLogger('voting', config.logLevel).child({ node: config.name });
const db = openDatabase(databaseFile);
// The log is what acknowledged writes rest on: make every commit durable.
db.pragma('synchronous = FULL');
const commandLog = new CommandLog(db);
const notes = new ChangeNotes();
const TERM = 1;

function commit(command: Command) {
  const committed = commandLog.commit(command, TERM);
  notes.publish(committed.touched);
  return committed;
}

function bootstrap(): void {
  setLocal(db, 'leader_id', nodeId);
  setLocal(db, 'term', String(TERM));
  const now = Date.now();
  if (!getMeta(db, 'cluster_id')) {
    const clusterId = randomBytes(8).toString('hex');
    commit({ type: 'cluster.init', clusterId, at: now });
    log.info('initialised a new cluster', { cluster: clusterId });
  }
  const registered = commit({
    type: 'node.register',
    node: { id: nodeId, name: config.name, address: config.advertise, role: 'manager', startedAt: now },
    at: now,
  });
  if (!registered.result.ok) throw new Error(registered.result.error.message);
  log.info('this node is the leader', { term: TERM, appliedIndex: commandLog.appliedIndex(), leader: getLocal(db, 'leader_id') });
}

function onMessage(from: ThreadName, body: ThreadMessage): void {
  if (body.type !== 'propose.request') return;
  try {
    const { index, result } = commit(body.command);
    sendTo(from, { type: 'propose.reply', id: body.id, result, index });
  } catch (error) {
    log.error('could not commit a command', { command: body.command.type, error: errorMessage(error) });
    sendTo(from, { type: 'propose.reply', id: body.id, result: { ok: false, error: toErrorData(error) }, index: 0 });
  }
}

try {
  bootstrap();
  runThread({
    onMessage,
    async stop() {
      notes.close();
      db.close();
    },
  });
} catch (error) {
  reportFatal(error);
}
