import Router from '@koa/router';
import { lockState, unlockSecretsKey } from '../daemon/secrets-key';
import type { RestContext } from './context';
import { parseUnlock } from './validation';

/**
 * This node's autolock (docs/security.md, "Autolock"): whether its secrets
 * key is locked by a passphrase and still closed, and `POST /node/unlock`
 * to open it with the passphrase. The key then stays in memory only, held
 * by every thread of this process, and the file stays locked. Node-local:
 * each node is unlocked on its own, as each is started on its own.
 */
export function nodeLockRouter(ctx: RestContext): Router {
  const router = new Router();

  router.get('/node/lock', (k) => {
    k.body = lockState(ctx.dataDir);
  });

  router.post('/node/unlock', (k) => {
    const passphrase = parseUnlock(k.request.body);
    const before = lockState(ctx.dataDir);
    if (before.autolock && !before.locked) {
      k.body = before;
      return;
    }
    unlockSecretsKey(ctx.dataDir, passphrase);
    ctx.log.info('unlocked this node\'s secrets key');
    k.body = lockState(ctx.dataDir);
  });
  return router;
}
