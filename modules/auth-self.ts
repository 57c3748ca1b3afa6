import Router from '@koa/router';

/**
 * GET /auth/self (read): who this request's token says the caller is, and
 * its role, so a client (the dashboard) shows only the actions that role
 * may do. A tokenless client on the loopback (auth "auto") is
 * `{ actor: "local", role: "admin" }`.
 */
export function authSelfRouter(): Router {
  const router = new Router();
  router.get('/auth/self', (k) => {
    const identity = k.state.identity;
    // The auth middleware sets an identity on every route that needs a token; this one always does.
    if (!identity) throw new Error('GET /auth/self reached without an identity: the auth middleware must run first');
    k.body = { actor: identity.actor, role: identity.role };
  });
  return router;
}
