import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import winston from 'winston';
import { BODY_LIMIT_BYTES, createApp } from '../../modules/app';
import { InboundLinkCuts } from '../../modules/debug-links';
import { raftStreamServer } from '../../modules/raft-stream';
import type { RestContext } from '../../modules/context';
import type { Db } from '../../database/open-database';

/**
 * A RestContext for unit tests of the REST modules over an in-memory
 * database: proposals are answered ok (give `propose` to apply them), no
 * peers, no change notes, silent logs, a fixed clock. Override what a test
 * observes.
 */
export function stubRestContext(db: Db, overrides: Partial<RestContext> = {}): RestContext {
  return {
    db,
    propose: async () => ({ ok: true }) as never,
    voting: { readBarrier: async () => 0, join: async () => { throw new Error('no join in a unit test'); }, changeMembership: async () => undefined, raw: async () => ({ ok: true }) },
    deliverRaft: () => undefined,
    changes: { subscribe: () => () => undefined, publish: () => undefined, close: () => undefined } as unknown as RestContext['changes'],
    log: winston.createLogger({ silent: true }),
    dataDir: '/nonexistent',
    advertise: '127.0.0.1:0',
    now: () => 1_700_000_000_000,
    containerLogs: () => new PassThrough(),
    followDaemonLog: () => () => undefined,
    ...overrides,
  };
}

/** The REST app over `ctx`, listening on a free loopback port; close the server when done. */
export async function serveApp(ctx: RestContext): Promise<{ server: Server; base: string; cuts: InboundLinkCuts }> {
  const cuts = new InboundLinkCuts();
  const server = createApp(ctx, cuts).listen(0, '127.0.0.1');
  // Peers' Raft streams, as the daemon's listener takes them; closeAllConnections ends them too (they are not the HTTP server's).
  const streams = raftStreamServer({ db: ctx.db, cuts, deliver: ctx.deliverRaft, maxLineBytes: BODY_LIMIT_BYTES });
  server.on('upgrade', streams.upgrade);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    streams.close();
    closeAll();
  };
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, cuts };
}
