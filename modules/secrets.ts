import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import { BicycleError } from '../daemon/errors';
import { sealSecret, secretAad } from '../daemon/secret-box';
import { SecretsKeyring } from '../daemon/secrets-key';
import { getSecret, listSecrets, type SecretRecord } from '../database/secrets';
import { proposeOrThrow, readBarrier, type RestContext } from './context';
import { isReplay } from './idempotency';
import { parseNewSecret, parseSecretValue } from './validation';
import { secretName } from './validation-secrets';

/**
 * The Secret endpoint (docs/rest.md, "Secrets"). A value arrives in base64,
 * is sealed here under the cluster's secrets key and only the sealed text is
 * proposed: the log, snapshots and every node's SQLite hold no plaintext,
 * and no answer, log line or event ever carries a value. Who may call these
 * routes is declared with the others in modules/auth-policy.ts (admin).
 */
export function secretsRouter(ctx: RestContext): Router {
  const router = new Router();
  const keyring = new SecretsKeyring(ctx.dataDir);

  const requireSecret = (name: string): SecretRecord => {
    const parsed = secretName.safeParse(name);
    if (!parsed.success) throw new BicycleError('INVALID_ARGUMENT', `secret name: ${parsed.error.issues[0]!.message}`);
    const secret = getSecret(ctx.db, name);
    if (!secret) throw new BicycleError('SECRET_NOT_FOUND', `no secret named ${name}`);
    return secret;
  };

  router.get('/secrets', async (k) => {
    await readBarrier(ctx, k.query);
    k.body = { secrets: listSecrets(ctx.db).map(presentSecret) };
  });

  router.get('/secrets/:name', async (k) => {
    await readBarrier(ctx, k.query);
    k.body = presentSecret(requireSecret(k.params.name!));
  });

  router.post('/secrets', async (k) => {
    const { name, value } = parseNewSecret(k.request.body);
    if (getSecret(ctx.db, name) && !isReplay(ctx.db)) {
      throw new BicycleError('SECRET_EXISTS', `a secret named ${name} already exists (give it a new value with \`bicycle secret update ${name} FILE\`)`);
    }
    const id = randomBytes(12).toString('hex');
    const sealed = sealSecret(keyring.key(), value, secretAad(id, name));
    value.fill(0);
    await proposeOrThrow(ctx, { type: 'secret.create', id, name, value: sealed, at: ctx.now() });
    ctx.log.info('secret created', { secret: name });
    k.status = 201;
    k.set('Location', `/secrets/${name}`);
    k.body = presentSecret(requireSecret(name));
  });

  /** A new value: version + 1, and every service that mounts the secret rolls to it under its update policy. */
  router.patch('/secrets/:name', async (k) => {
    const current = requireSecret(k.params.name!);
    const value = parseSecretValue(k.request.body);
    const sealed = sealSecret(keyring.key(), value, secretAad(current.id, current.name));
    value.fill(0);
    await proposeOrThrow(ctx, { type: 'secret.update', id: current.id, name: current.name, value: sealed, at: ctx.now() });
    const updated = requireSecret(current.name);
    ctx.log.info('secret updated', { secret: current.name, version: updated.version, services: updated.services.join(',') });
    k.body = presentSecret(updated);
  });

  router.delete('/secrets/:name', async (k) => {
    const secret = requireSecret(k.params.name!);
    await proposeOrThrow(ctx, { type: 'secret.remove', name: secret.name, at: ctx.now() });
    ctx.log.info('secret removed', { secret: secret.name });
    k.body = { name: secret.name, id: secret.id, removed: true };
  });

  return router;
}

/** A secret as every answer shows it: never its value. */
export function presentSecret(secret: SecretRecord) {
  return {
    name: secret.name,
    id: secret.id,
    version: secret.version,
    createdAt: new Date(secret.createdAt).toISOString(),
    updatedAt: new Date(secret.updatedAt).toISOString(),
    services: secret.services,
  };
}
