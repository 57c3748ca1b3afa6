import type { Middleware } from 'koa';
import { BicycleError } from '../daemon/errors';
import type { Logger } from '../daemon/logger';

/**
 * The one place errors become answers: a BicycleError answers with its
 * catalogue status and `{ error: { code, message } }`; anything else is a bug
 * and answers 500 INTERNAL (and is logged, with the request).
 */
export function errorMiddleware(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new BicycleError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
      }
      // The routers' allowedMethods answer 405 and 501 with an Allow header and no body: the same JSON error as the rest.
      if (ctx.status === 405 && ctx.body === undefined) {
        const allow = String(ctx.response.get('Allow') || '');
        ctx.status = 405;
        ctx.body = { error: { code: 'METHOD_NOT_ALLOWED', message: `${ctx.path} does not take ${ctx.method}${allow ? `; it takes ${allow}` : ''}` } };
      } else if (ctx.status === 501 && ctx.body === undefined) {
        ctx.status = 501;
        ctx.body = { error: { code: 'NOT_IMPLEMENTED', message: `the method ${ctx.method} is not supported` } };
      }
    } catch (error) {
      const known = error instanceof BicycleError ? error : undefined;
      if (!known) log.error('request failed', { method: ctx.method, path: ctx.path, error: (error as Error)?.stack ?? String(error) });
      ctx.status = known?.status ?? 500;
      ctx.body = { error: { code: known?.code ?? 'INTERNAL', message: known?.message ?? `internal error: ${(error as Error)?.message ?? error}` } };
    }
  };
}
