import type { Middleware } from 'koa';
import { BicycleError } from '../daemon/errors';
import { safeEqual } from '../daemon/secrets';
import type { Db } from '../database/open-database';
import { getToken, hashSecret, parseToken, type Role } from '../database/tokens';
import { roleAllows, routeAccess } from './auth-policy';
import { isLoopbackAddress } from './local-admin';

/** Who is calling, once authenticated: set on `ctx.state.identity` for the routes, the audit log and the proposals' request tags. */
export interface Identity {
  /** The token's name, or `local` for a tokenless client on the loopback. */
  actor: string;
  /** The token's accessor id; null for `local`. */
  accessor: string | null;
  role: Role;
}

/** `auth` in config.json: `auto` lets a client on the loopback in without a token; `required` never does. */
export type AuthMode = 'auto' | 'required';

declare module 'koa' {
  interface DefaultState {
    identity?: Identity;
  }
}

/**
 * The API's authentication and authorisation, before the routers (which
 * stay unaware of it): the bearer token (database/tokens.ts) names an
 * identity and its role, and the route's access (modules/auth-policy.ts)
 * decides. 401 UNAUTHENTICATED without a token where one is needed, or with
 * one that is malformed, unknown, wrong or expired; 403 PERMISSION_DENIED
 * when the role may not do this. A request that arrived on a loopback
 * address (the connection's local end is 127.0.0.0/8 or ::1) needs no token
 * unless `mode` is `required`; a token it does give is checked all the same.
 */
export function authMiddleware(db: Db, options: { mode: AuthMode; now(): number }): Middleware {
  return async (k, next) => {
    const access = routeAccess(k.method, k.path);
    if (access === 'public' || access === 'node') return next();
    const header = k.get('authorization');
    let identity: Identity;
    if (header === '') {
      if (options.mode === 'auto' && isLoopbackAddress(k.req.socket.localAddress)) {
        identity = { actor: 'local', accessor: null, role: 'admin' };
      } else {
        throw new BicycleError(
          'UNAUTHENTICATED',
          `${k.method} ${k.path} needs an API token: send Authorization: Bearer <token> (the CLI: --token, BICYCLE_TOKEN or a context, \`bicycle context add\`); an admin makes one with \`bicycle token create\`, and \`bicycled --init\` printed the first`,
        );
      }
    } else {
      identity = authenticate(db, header, options.now());
    }
    k.state.identity = identity;
    if (!roleAllows(identity.role, access)) {
      throw new BicycleError(
        'PERMISSION_DENIED',
        `the token ${identity.actor} has the role ${identity.role}; ${k.method} ${k.path} needs ${access}${access === 'admin' ? '' : ' or admin'}: ask an admin for a token with that role`,
      );
    }
    return next();
  };
}

function authenticate(db: Db, header: string, now: number): Identity {
  const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  if (!bearer) throw new BicycleError('UNAUTHENTICATED', 'the Authorization header must be `Bearer <token>`');
  const parsed = parseToken(bearer);
  if (!parsed) throw new BicycleError('UNAUTHENTICATED', 'the bearer token is not an API token (BAT1-…): use one that `bicycle token create` printed');
  const token = getToken(db, parsed.accessor);
  // The hash is compared even for an unknown accessor, so the answer takes the same time either way.
  const hash = hashSecret(parsed.secret);
  const valid = safeEqual(token?.secretHash ?? '0'.repeat(64), hash) && token !== undefined;
  if (!valid) throw new BicycleError('UNAUTHENTICATED', `the token ${parsed.accessor} is not valid in this cluster (unknown, removed, or a wrong secret): use a token \`bicycle token ls\` lists`);
  if (token.expiresAt !== null && token.expiresAt <= now) {
    throw new BicycleError('UNAUTHENTICATED', `the token ${token.name} expired at ${new Date(token.expiresAt).toISOString()}: ask an admin for a new one (\`bicycle token create\`)`);
  }
  return { actor: token.name, accessor: token.accessor, role: token.role };
}
