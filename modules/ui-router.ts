import type Koa from 'koa';
import { PAGE_HTML } from './ui/page';
import { SCRIPT_JS } from './ui/script';
import { STYLE_CSS } from './ui/style';

/** Path → [content type, body]: the dashboard's three files, compiled in so dist serves them as the source tree does. */
const FILES: ReadonlyMap<string, readonly [string, string]> = new Map([
  ['/ui', ['text/html; charset=utf-8', PAGE_HTML]],
  ['/ui/', ['text/html; charset=utf-8', PAGE_HTML]],
  ['/ui/app.js', ['text/javascript; charset=utf-8', SCRIPT_JS]],
  ['/ui/app.css', ['text/css; charset=utf-8', STYLE_CSS]],
] as const);

/**
 * GET /ui: the web dashboard, static files that read the REST API from the
 * browser. A plain middleware rather than a @koa/router: these are pages,
 * not API operations, so they stay out of the routes /openapi.json lists.
 */
export function uiRouter(): Koa.Middleware {
  return async (k, next) => {
    const file = FILES.get(k.path);
    if (!file || (k.method !== 'GET' && k.method !== 'HEAD')) return next();
    k.type = file[0];
    k.set('Cache-Control', 'no-cache');
    k.body = file[1];
  };
}
