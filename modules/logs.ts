import Router from '@koa/router';
import { PassThrough } from 'node:stream';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLogLine, type LogRecord } from '../daemon/log-format';
import { LOG_FILE_NAME } from '../daemon/monitoring/log-sink';
import type { RestContext } from './context';
import { parseFlag, parseInteger } from './validation';
import { BicycleError } from '../daemon/errors';
import { getLocal, listTasks } from '../database/queries';
import { localContainerLog } from './service-logs';
import { CONTAINER_LOGS_PATH } from '../daemon/cluster-protocol';
import { requirePeer } from './peer-identity';

/** GET /logs: the last `tail` lines of the daemon log, then (with follow) every new line as it is written. */
export function logsRouter(ctx: RestContext): Router {
  const router = new Router();
  router.get('/logs', async (k) => {
    const follow = parseFlag(k.query.follow, 'follow', false);
    const tail = parseInteger(k.query.tail, 'tail', 100, 0, 100_000);
    const out = new PassThrough();
    k.type = 'text/plain; charset=utf-8';
    k.set('Cache-Control', 'no-cache');
    k.body = out;
    // Subscribe before reading the file so no line falls between the two.
    const buffered: LogRecord[] = [];
    let live = false;
    const unsubscribe = follow
      ? ctx.followDaemonLog((record) => (live ? out.write(formatLogLine(record) + '\n') : buffered.push(record)))
      : () => undefined;
    const lines = await lastLines(join(ctx.dataDir, LOG_FILE_NAME), tail);
    for (const line of lines) out.write(formatRaw(line) + '\n');
    if (!follow) return void out.end();
    // A record written while the file was read may show twice; none is lost.
    for (const record of buffered) out.write(formatLogLine(record) + '\n');
    live = true;
    // Send the headers now: a follower waiting for its first line must know the stream is open.
    k.flushHeaders();
    const stop = () => {
      unsubscribe();
      out.end();
    };
    k.req.on('close', stop);
    out.on('error', stop);
  });

  // Node-to-node: the node following a service reads the log of a replica on this node (modules/service-logs.ts).
  // Over mutual TLS the peer is its node certificate; in clear, the cluster secret (modules/peer-identity.ts).
  router.get(CONTAINER_LOGS_PATH, requirePeer(ctx.db), (k) => {
    const containerId = k.params.containerId!;
    const here = getLocal(ctx.db, 'node_id');
    if (!listTasks(ctx.db, { nodeId: here ?? '' }).some((t) => t.containerId === containerId)) {
      throw new BicycleError('NOT_FOUND', `holds no task with container ${containerId.slice(0, 12)}`);
    }
    const follow = parseFlag(k.query.follow, 'follow', false);
    const tail = parseInteger(k.query.tail, 'tail', 100, 0, 100_000);
    k.type = 'text/plain; charset=utf-8';
    k.set('Cache-Control', 'no-cache');
    k.body = localContainerLog(ctx, containerId, follow, tail);
    if (follow) k.flushHeaders();
  });
  return router;
}

function formatRaw(line: string): string {
  try {
    return formatLogLine(JSON.parse(line) as LogRecord);
  } catch {
    return line;
  }
}

/** The last `count` non-empty lines of a file, reading backwards in blocks (the file may be large). */
export async function lastLines(file: string, count: number): Promise<string[]> {
  if (count === 0) return [];
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return [];
  }
  const handle = await open(file, 'r');
  try {
    const block = 64 * 1024;
    let position = size;
    let text = '';
    while (position > 0) {
      const length = Math.min(block, position);
      position -= length;
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, position);
      text = buffer.toString('utf8') + text;
      if (text.split('\n').filter((l) => l.trim()).length > count) break;
    }
    return text.split('\n').filter((l) => l.trim()).slice(-count);
  } finally {
    await handle.close();
  }
}
