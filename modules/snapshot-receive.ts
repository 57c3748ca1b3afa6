import Router from '@koa/router';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BicycleError } from '../daemon/errors';
import { SNAPSHOT_CHUNK_BYTES, SNAPSHOT_PATH } from '../daemon/voting/snapshot-sender';
import type { RestContext } from './context';
import { requirePeer } from './peer-identity';
import { PEER_ADDRESS_HEADER } from '../daemon/cluster-protocol';

/** The largest snapshot a node takes in (its whole message as JSON). */
export const MAX_SNAPSHOT_BYTES = 8 * 1024 ** 3;
/** A chunk may be larger than this node's own chunk size (another version), up to this. */
const MAX_CHUNK_BYTES = 4 * SNAPSHOT_CHUNK_BYTES;

/**
 * The receiving end of SnapshotSender (daemon/voting/snapshot-sender.ts):
 * `GET /cluster/snapshot/:id?total&sha256` says how many bytes of that
 * snapshot this node holds, `POST …&offset=N` appends a chunk at exactly
 * that offset (409 with the amount held otherwise). The chunks go to
 * `<data dir>/snapshot-incoming/<id>.part`, so a transfer cut off resumes
 * where it stopped, also after this node restarts; one transfer at a time
 * (a new one removes the others' files). Once the last chunk is in and the
 * whole text's SHA-256 matches, the message is handed to the Raft core as
 * if it had come in one piece, and the file is removed. Node-to-node only
 * (requirePeer); mounted before the JSON body reader, as the chunks are
 * bytes.
 */
export function snapshotReceiveRouter(ctx: RestContext): Router {
  const router = new Router();
  const dir = join(ctx.dataDir, 'snapshot-incoming');
  const partOf = (id: string) => join(dir, `${id}.part`);

  const parse = (k: { params: Record<string, string | undefined>; query: Record<string, unknown> }) => {
    const id = k.params.id!;
    if (!/^\d+-\d+-[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new BicycleError('INVALID_ARGUMENT', 'snapshot id: must be <term>-<index>-<leader id>');
    const total = Number(k.query.total);
    if (!Number.isSafeInteger(total) || total <= 0 || total > MAX_SNAPSHOT_BYTES) throw new BicycleError('INVALID_ARGUMENT', `total: must be the snapshot's size in bytes, 1 to ${MAX_SNAPSHOT_BYTES}`);
    const sha256 = String(k.query.sha256 ?? '');
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new BicycleError('INVALID_ARGUMENT', 'sha256: must be the snapshot\'s SHA-256 in hex');
    return { id, total, sha256 };
  };

  /** The bytes held of this transfer; a transfer of another snapshot (or size, or hash) is dropped first. */
  const held = (id: string, total: number, sha256: string): number => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const label = join(dir, `${id}.json`);
    for (const name of readdirSync(dir)) if (!name.startsWith(`${id}.`)) rmSync(join(dir, name), { force: true });
    let known: { total: number; sha256: string } | undefined;
    try {
      known = JSON.parse(readFileSync(label, 'utf8')) as { total: number; sha256: string };
    } catch {
      known = undefined;
    }
    if (!known || known.total !== total || known.sha256 !== sha256) {
      rmSync(partOf(id), { force: true });
      writeFileSync(label, JSON.stringify({ total, sha256 }), { mode: 0o600 });
      return 0;
    }
    return statSync(partOf(id), { throwIfNoEntry: false })?.size ?? 0;
  };

  router.get(`${SNAPSHOT_PATH}/:id`, requirePeer(ctx.db), (k) => {
    const { id, total, sha256 } = parse(k);
    k.body = { received: held(id, total, sha256) };
  });

  router.post(`${SNAPSHOT_PATH}/:id`, requirePeer(ctx.db), async (k) => {
    const { id, total, sha256 } = parse(k);
    const offset = Number(k.query.offset);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= total) throw new BicycleError('INVALID_ARGUMENT', `offset: must be 0 to ${total - 1}`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of k.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_CHUNK_BYTES || offset + size > total) {
        k.req.destroy();
        throw new BicycleError('INVALID_ARGUMENT', `a snapshot chunk must be at most ${MAX_CHUNK_BYTES} bytes and end within the total`);
      }
      chunks.push(chunk);
    }
    const have = held(id, total, sha256);
    if (have !== offset) {
      k.status = 409;
      k.body = { received: have };
      return;
    }
    appendFileSync(partOf(id), Buffer.concat(chunks), { mode: 0o600 });
    const received = have + size;
    if (received < total) {
      k.body = { received };
      return;
    }
    const text = readFileSync(partOf(id));
    rmSync(partOf(id), { force: true });
    rmSync(join(dir, `${id}.json`), { force: true });
    if (createHash('sha256').update(text).digest('hex') !== sha256) {
      throw new BicycleError('INVALID_ARGUMENT', 'the snapshot\'s chunks do not add up to its SHA-256; send it again');
    }
    const message = JSON.parse(text.toString('utf8')) as { type?: unknown; from?: unknown };
    const peerNodeId = k.state.peerNodeId as string | undefined;
    if (message.type !== 'snapshot') throw new BicycleError('INVALID_ARGUMENT', 'expected a snapshot message');
    if (peerNodeId !== undefined && message.from !== peerNodeId) {
      throw new BicycleError('PERMISSION_DENIED', `a snapshot from ${String(message.from)} came with the certificate of ${peerNodeId}: a node sends only its own messages`);
    }
    ctx.deliverRaft([message], k.get(PEER_ADDRESS_HEADER) || null);
    k.body = { received, installed: true };
  });
  return router;
}
