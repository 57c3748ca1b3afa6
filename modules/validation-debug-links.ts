import { z } from 'zod';

/**
 * The body of POST /debug/links (`bicycled --debug-links`): the peer (a
 * member's node id or name), cut or up, and for a cut the direction (both
 * by default; `out` drops what this node sends the peer, `in` what it
 * receives from it).
 */
export const debugLinkChange = z.strictObject({
  peer: z.string({ error: 'must be a node id or name, e.g. "node-2"' }).min(1, 'must be a node id or name, e.g. "node-2"').max(64, 'must be at most 64 characters'),
  state: z.enum(['cut', 'up'], { error: 'must be "cut" or "up"' }),
  direction: z.enum(['both', 'in', 'out'], { error: 'must be "both", "in" or "out"' }).optional(),
});
