import { isNodeToNodePath } from '../daemon/cluster-protocol';
import type { Role } from '../database/tokens';

/**
 * Who may call a route (docs/security.md, "Roles"): `public` (no token:
 * health checks and the dashboard's static files), `node` (node-to-node
 * routes, which authenticate peers their own way), or the least role a
 * token needs. Pure: a method and a request path in, the access out.
 * Anything not named here needs admin, so a new route is closed until it is
 * placed (test/integration/auth.test.ts lists every route the routers serve).
 */
export type Access = 'public' | 'node' | Role;

const RANK: Record<Role, number> = { read: 0, operator: 1, admin: 2 };

/** Whether `role` may do what `needed` allows. */
export function roleAllows(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

export function routeAccess(method: string, path: string): Access {
  const read = method === 'GET' || method === 'HEAD';
  if (path === '/healthz' && read) return 'public';
  if ((path === '/ui' || path.startsWith('/ui/')) && read) return 'public';
  // Node-to-node: Raft, forwarded requests, joins (and the CA a joiner fetches first), a peer's container logs.
  if (isNodeToNodePath(path)) return 'node';
  // Who holds these administers the cluster: the join token admits nodes, tokens are credentials, the audit log says who did what.
  // The autolock passphrase opens the key of every secret: admins only.
  if (path === '/node/unlock' || path === '/node/lock') return read && path === '/node/lock' ? 'read' : 'admin';
  if (path === '/cluster/join-token' || path === '/tokens' || path.startsWith('/tokens/') || path === '/audit' || path === '/secrets' || path.startsWith('/secrets/')) return 'admin';
  // Cutting links (bicycled --debug-links) partitions the cluster: admin, listing them too.
  if (path === '/debug/links') return 'admin';
  if (path === '/nodes' || path.startsWith('/nodes/')) return read ? 'read' : 'admin';
  // Container output and the daemon log are where a leaked credential would show: operators, not readers.
  if (read && (path === '/logs' || /^\/services\/[^/]+\/logs$/.test(path))) return 'operator';
  if (path === '/services' || path.startsWith('/services/') || path === '/rebalance') return read ? 'read' : 'operator';
  if (read && ['/state', '/events', '/metrics', '/openapi.json', '/auth/self'].includes(path)) return 'read';
  return 'admin';
}
