import Router from '@koa/router';
import { z } from 'zod';
import { BicycleError } from '../daemon/errors';
import { findToken, listTokens, mintToken, ROLES, TOKEN_NAME_PATTERN, type TokenRecord } from '../database/tokens';
import { proposeOrThrow, type RestContext } from './context';

export const createTokenSchema = z.strictObject({
  name: z.string().regex(TOKEN_NAME_PATTERN, 'must be 1-63 letters, digits, _ . @ - starting with a letter or digit'),
  role: z.enum(ROLES as [string, ...string[]]),
  /** Lifetime in seconds; absent: the token never expires. */
  ttlSeconds: z.number().int().min(1).max(10 * 365 * 24 * 3600).optional(),
});

/** A token as the API shows it: never its secret, nor the hash of it. */
export function presentToken(t: TokenRecord, now: number) {
  return {
    accessor: t.accessor,
    name: t.name,
    role: t.role,
    createdAt: new Date(t.createdAt).toISOString(),
    expiresAt: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
    expired: t.expiresAt !== null && t.expiresAt <= now,
    createdBy: t.createdBy,
  };
}

/** API tokens (admin): list, create (the secret is in this answer only), remove by accessor id or name. */
export function tokensRouter(ctx: RestContext): Router {
  const router = new Router();

  router.get('/tokens', (k) => {
    const now = ctx.now();
    k.body = { tokens: listTokens(ctx.db).map((t) => presentToken(t, now)) };
  });

  router.post('/tokens', async (k) => {
    const parsed = createTokenSchema.safeParse(k.request.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new BicycleError('INVALID_ARGUMENT', `${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const { name, role, ttlSeconds } = parsed.data;
    if (findToken(ctx.db, name)) throw new BicycleError('TOKEN_EXISTS', `a token named ${name} already exists; choose another name or remove it first (\`bicycle token rm ${name}\`)`);
    const at = ctx.now();
    const minted = mintToken();
    const expiresAt = ttlSeconds === undefined ? null : at + ttlSeconds * 1000;
    await proposeOrThrow(ctx, {
      type: 'token.create', accessor: minted.accessor, name, role: role as TokenRecord['role'], secretHash: minted.secretHash, expiresAt, createdBy: k.state.identity?.actor ?? 'local', at,
    });
    ctx.log.info('API token created', { token: name, accessor: minted.accessor, role });
    k.status = 201;
    const created = findToken(ctx.db, minted.accessor);
    k.body = { ...(created ? presentToken(created, at) : { accessor: minted.accessor, name, role }), token: minted.token };
  });

  router.delete('/tokens/:id', async (k) => {
    const token = findToken(ctx.db, k.params.id!);
    if (!token) throw new BicycleError('TOKEN_NOT_FOUND', `no token with accessor id or name ${k.params.id}: \`bicycle token ls\` lists them`);
    await proposeOrThrow(ctx, { type: 'token.remove', accessor: token.accessor, at: ctx.now() });
    ctx.log.info('API token removed', { token: token.name, accessor: token.accessor });
    k.body = { removed: token.name, accessor: token.accessor };
  });

  return router;
}
