import type { Middleware } from 'koa';
import { BicycleError } from '../daemon/errors';

declare module 'koa' {
  interface Request {
    /** The parsed JSON body (set by jsonBody), undefined when the request had none. */
    body?: unknown;
  }
}

/**
 * Reads a JSON request body into `ctx.request.body`, refusing bodies over
 * `limitBytes` (413, without reading the rest), a content type other than
 * JSON (415) and text that is not JSON (400 INVALID_JSON).
 */
export function jsonBody(limitBytes: number): Middleware {
  return async (ctx, next) => {
    if (!['POST', 'PUT', 'PATCH'].includes(ctx.method)) return next();
    const declared = Number(ctx.get('content-length') || NaN);
    if (declared > limitBytes) throw tooLarge(limitBytes);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limitBytes) {
        ctx.req.destroy();
        throw tooLarge(limitBytes);
      }
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') {
      ctx.request.body = undefined;
      return next();
    }
    if (!ctx.is('application/json') && ctx.get('content-type') !== '') {
      throw new BicycleError('UNSUPPORTED_MEDIA_TYPE', `request body must be application/json, got ${ctx.get('content-type')}`);
    }
    try {
      ctx.request.body = JSON.parse(text);
    } catch (error) {
      throw new BicycleError('INVALID_JSON', `request body is not valid JSON: ${(error as Error).message}`);
    }
    return next();
  };
}

function tooLarge(limitBytes: number): BicycleError {
  return new BicycleError('PAYLOAD_TOO_LARGE', `request body is larger than the limit of ${limitBytes} bytes`);
}
