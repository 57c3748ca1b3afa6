import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { PassThrough, type Readable } from 'node:stream';
import { getLocal, getService, listNodes, listTasks } from '../database/queries';
import { clusterSecret, containerLogsPath } from '../daemon/cluster-protocol';
import { FollowPlan, formatLostMarker, formatRemovedMarker, type FollowAction } from './service-logs-plan';
import type { RestContext } from './context';
import { BicycleError } from '../daemon/errors';

/** Docker has no "all" for a number-typed tail: a container that started during a follow is read from its first line up to this many. */
const WHOLE_LOG_LINES = 100_000;

/** How often the tasks are re-read even without a change note (a lost note costs this much latency). */
const RESYNC_MS = 1000;

/** How often an NDJSON follow writes an empty line to keep an idle connection. */
const HEARTBEAT_MS = 30_000;

export type LogsFormat = 'text' | 'ndjson';

/** One record of `GET /services/:name/logs?format=ndjson`, one per line (docs/logs.md). */
export type LogRecordOut =
  | { type: 'line'; replica: string; node: string | null; text: string }
  | { type: 'lost'; replica: string; node: string | null; at: number; replacement: { replica: string; node: string | null } }
  | { type: 'removed'; service: string };

/**
 * The body of `GET /services/:name/logs`: the logs of the service's
 * replicas, wherever they run (this node's through the monitoring thread,
 * another node's from that node's REST API). With `follow`, it re-reads the
 * service's tasks on every change note (and every second) and opens each
 * replica that starts, on this node or another (FollowPlan decides), marks
 * replicas lost with their node, and ends with a last line once the service
 * is removed. Destroying the stream (the client hung up) closes every log.
 */
export function serviceLogs(ctx: RestContext, service: string, options: { follow: boolean; tail: number; format: LogsFormat }): Readable {
  const out = new PassThrough();
  const plan = new FollowPlan(service, options.follow);
  const streams = new Map<string, Readable>();
  let width = Math.max(0, ...listTasks(ctx.db, { serviceName: service }).map((t) => `${service}.${t.slot}`.length));
  let ended = false;

  const nodeName = (id: string | null) => (id === null ? null : (listNodes(ctx.db).find((n) => n.id === id)?.name ?? id));
  const emit = (record: LogRecordOut) => {
    if (ended) return;
    if (options.format === 'ndjson') return void out.write(JSON.stringify(record) + '\n');
    if (record.type === 'line') {
      width = Math.max(width, record.replica.length);
      out.write(`${record.replica.padEnd(width)} | ${record.text}\n`);
    } else if (record.type === 'lost') {
      const named = { ...record, node: record.node ?? '(no node)', replacement: { ...record.replacement, node: record.replacement.node ?? '(no node)' } };
      out.write(formatLostMarker(named) + '\n');
    } else {
      out.write(formatRemovedMarker(record.service) + '\n');
    }
  };

  const finish = () => {
    if (ended) return;
    ended = true;
    unsubscribe();
    clearInterval(resync);
    for (const stream of streams.values()) stream.destroy();
    streams.clear();
    out.end();
  };

  const apply = (action: FollowAction) => {
    if (action.kind === 'close') {
      streams.get(action.taskId)?.destroy();
      streams.delete(action.taskId);
    } else if (action.kind === 'lost') {
      emit({ type: 'lost', replica: action.replica, node: nodeName(action.nodeId), at: action.at, replacement: { replica: action.replacement.replica, node: nodeName(action.replacement.nodeId) } });
    } else {
      const node = nodeName(action.nodeId);
      const tail = action.fromStart ? WHOLE_LOG_LINES : options.tail;
      const stream = openContainerLog(ctx, action.nodeId, action.containerId, options.follow, tail);
      streams.set(action.taskId, stream);
      forEachLine(stream, (text) => emit({ type: 'line', replica: action.replica, node, text }), () => {
        if (streams.get(action.taskId) === stream) streams.delete(action.taskId);
        if (!options.follow && streams.size === 0) finish();
      });
    }
  };

  const sync = () => {
    if (ended) return;
    if (!getService(ctx.db, service)) {
      if (options.follow) emit({ type: 'removed', service });
      return finish();
    }
    for (const action of plan.step(listTasks(ctx.db, { serviceName: service }))) apply(action);
  };

  const unsubscribe = options.follow
    ? ctx.changes.subscribe((note) => {
        if (note.tables.includes('tasks') || note.tables.includes('services')) sync();
      })
    : () => undefined;
  let quietTicks = 0;
  const resync = options.follow
    ? setInterval(() => {
        sync();
        // An idle NDJSON follow gets an empty line now and then, so clients with a body timeout (fetch: 5 minutes) keep it.
        if (options.format === 'ndjson' && !ended && ++quietTicks * RESYNC_MS >= HEARTBEAT_MS) {
          quietTicks = 0;
          out.write('\n');
        }
      }, RESYNC_MS)
    : undefined;
  out.on('close', finish);
  out.on('error', finish);
  // Back-pressure: a slow reader pauses every source until it catches up.
  out.on('drain', () => streams.forEach((s) => s.resume()));
  const write = out.write.bind(out);
  out.write = ((chunk: string) => {
    const ok = write(chunk);
    if (!ok) streams.forEach((s) => s.pause());
    return ok;
  }) as typeof out.write;

  sync();
  if (!options.follow && streams.size === 0) finish();
  return out;
}

/** The log of one container as bare lines: this node's through the monitoring thread, another's through its REST API. */
function openContainerLog(ctx: RestContext, nodeId: string | null, containerId: string, follow: boolean, tail: number): Readable {
  const local = getLocal(ctx.db, 'node_id');
  if (nodeId === null || nodeId === local) return localContainerLog(ctx, containerId, follow, tail);
  const node = listNodes(ctx.db).find((n) => n.id === nodeId);
  if (!node) return oneLine(`(no logs: node ${nodeId} is not a member)`);
  return remoteContainerLog({ address: node.address, name: node.name, secret: clusterSecret(ctx.db) ?? '', agent: ctx.peerHttpsAgent?.() }, containerId, follow, tail);
}

/** This node's container, as bare lines (the monitoring thread prefixes each with ` | ` for an empty replica name). */
export function localContainerLog(ctx: RestContext, containerId: string, follow: boolean, tail: number): Readable {
  const source = ctx.containerLogs([{ containerId, prefix: '' }], follow, tail);
  const out = new PassThrough();
  forEachLine(source, (line) => out.write((line.startsWith(' | ') ? line.slice(3) : line) + '\n'), () => out.end());
  out.on('close', () => source.destroy());
  source.on('error', () => out.end());
  return out;
}

/** A peer as a log read reaches it: over mutual TLS with `agent`, else in clear with the cluster secret. */
interface LogPeer {
  address: string;
  name: string;
  secret: string;
  agent: HttpsAgent | undefined;
}

function remoteContainerLog(peer: LogPeer, containerId: string, follow: boolean, tail: number): Readable {
  const { address, name, secret, agent } = peer;
  const out = new PassThrough();
  const path = containerLogsPath(containerId) + `?follow=${follow}&tail=${tail}`;
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  // node:http(s) rather than fetch: a follow may stay silent for hours, and fetch gives up on a body silent for 5 minutes.
  const options = { host, port, path, method: 'GET' };
  const onResponse = (res: import('node:http').IncomingMessage) => {
    if (res.statusCode !== 200) {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const message = (() => {
          try {
            return (JSON.parse(body) as { error: { message: string } }).error.message;
          } catch {
            return `answered ${res.statusCode}`;
          }
        })();
        out.end(`(no logs: ${name} ${message})\n`);
      });
      return;
    }
    res.pipe(out);
    res.on('error', () => out.end());
  };
  // Over TLS the certificate is the credential: the cluster secret is not sent where it is not needed.
  const req = agent ? httpsRequest({ ...options, agent }, onResponse) : httpRequest({ ...options, headers: { authorization: `Bearer ${secret}` } }, onResponse);
  req.on('error', (error) => {
    if (!out.destroyed) out.end(`(no logs: cannot reach ${name} at ${address}: ${error.message})\n`);
  });
  req.end();
  out.on('close', () => req.destroy());
  return out;
}

function oneLine(text: string): Readable {
  const out = new PassThrough();
  out.end(text + '\n');
  return out;
}

/** Calls `onLine` with each complete line of `stream` (a last unterminated one too), then `onEnd` once. */
export function forEachLine(stream: Readable, onLine: (line: string) => void, onEnd: () => void): void {
  let rest = '';
  let done = false;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  const end = () => {
    if (done) return;
    done = true;
    if (rest) onLine(rest);
    rest = '';
    onEnd();
  };
  stream.on('end', end);
  stream.on('close', end);
  stream.on('error', end);
}

/** `?format=`: `text` (the default) or `ndjson`. */
export function parseLogsFormat(value: unknown): LogsFormat {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'ndjson') return 'ndjson';
  throw new BicycleError('INVALID_ARGUMENT', `format must be text or ndjson, not ${JSON.stringify(value)}`);
}
