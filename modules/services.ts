import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import { isConverged } from '../database/converged';
import { BicycleError } from '../daemon/errors';
import { requirePortsFree } from '../database/ports';
import { DEFAULT_MAX_REPLICAS, requireReplicasWithinLimit } from '../database/replica-limit';
import { decodeCursor, type TaskCursor } from '../database/task-summary';
import { getService, listServices, listServiceVersions, type ServiceRecord } from '../database/queries';
import { readVersion } from '../database/read-version';
import { AnswerCache, answerJson } from './answer-cache';
import { proposeOrThrow, readBarrier, waitUntil, type RestContext } from './context';
import { isReplay } from './idempotency';
import { readService, readServiceSummaries, readServices, readTaskPage } from './present';
import { parseLogsFormat, serviceLogs } from './service-logs';
import { DEFAULT_LIFECYCLE, presentVersion } from './present-lifecycle';
import { parseFlag, parseInteger, parseNewService, parseRollback, parseServiceChanges, parseServiceName } from './validation';

const MAX_WAIT_SECONDS = 3600;

/** A rollout stopped at a decision, where `?wait=true` stops waiting too. */
const DECIDED: ReadonlySet<string> = new Set(['PAUSED', 'ROLLED_BACK']);
const DEFAULT_TASK_PAGE = 500;
const MAX_TASK_PAGE = 5000;

/** `?after=`: a cursor an earlier page gave, or absent for the first page. */
function parseCursor(value: unknown): TaskCursor | null {
  if (value === undefined) return null;
  const cursor = typeof value === 'string' ? decodeCursor(value) : null;
  if (!cursor) throw new BicycleError('INVALID_ARGUMENT', 'after: must be the "next" cursor of an earlier page of this endpoint');
  return cursor;
}

/**
 * The Service endpoint. Writes only record intents (create, update, delete)
 * through propose; the deployment thread does the rest. With `?wait=true` a
 * write answers once the service has converged (or the wait times out).
 */
export function servicesRouter(ctx: RestContext): Router {
  const router = new Router();
  const maxReplicas = ctx.maxReplicas ?? DEFAULT_MAX_REPLICAS;
  const defaults = ctx.lifecycleDefaults ?? DEFAULT_LIFECYCLE;
  /** The service as every answer shows it, the cluster's defaults filling in its policies. */
  const view = (service: ServiceRecord) => readService(ctx.db, service, defaults);
  /** The reads' answers, kept until the rows change (database/read-version.ts): none of them depends on the time. */
  const answers = new AnswerCache(16);
  const summaries = new AnswerCache(1);
  const lists = new AnswerCache(1);

  const requireService = (name: string) => {
    const service = getService(ctx.db, parseServiceName(name));
    if (!service) throw new BicycleError('SERVICE_NOT_FOUND', `no service named ${name}`);
    return service;
  };

  /**
   * Settled: the service has converged (database/converged.ts, the CLI's
   * own test) and the orchestrator has said so (RUNNING), or an update or
   * rollback has stopped at a decision (PAUSED, ROLLED_BACK) that the
   * answer shows. A removed service ends the wait.
   */
  const waitForConverged = async (name: string, query: Record<string, unknown>) => {
    if (!parseFlag(query.wait, 'wait', false)) return;
    const timeoutMs = parseInteger(query.timeout, 'timeout', 60, 1, MAX_WAIT_SECONDS) * 1000;
    await waitUntil(ctx, () => {
      const service = getService(ctx.db, name);
      if (!service || DECIDED.has(service.state)) return true;
      return service.state === 'RUNNING' && isConverged(view(service));
    }, timeoutMs);
  };

  router.get('/services', async (k) => {
    const withTasks = parseFlag(k.query.tasks, 'tasks', false);
    await readBarrier(ctx, k.query);
    // The summaries name no node: they change only with the task and service rows. With tasks, each names its node.
    const version = readVersion(ctx.db);
    const services = withTasks
      ? lists.get(version.all, 'tasks', () => ({ services: readServices(ctx.db, defaults) }))
      : summaries.get(version.tasks, 'summaries', () => ({ services: readServiceSummaries(ctx.db, defaults) }));
    answerJson(k, services);
  });

  router.post('/services', async (k) => {
    const input = parseNewService(k.request.body);
    parseFlag(k.query.wait, 'wait', false);
    parseInteger(k.query.timeout, 'timeout', 60, 1, MAX_WAIT_SECONDS);
    // A retry of a create this node already applied (same Idempotency-Key) goes on: proposing it again answers the first result.
    if (getService(ctx.db, input.name) && !isReplay(ctx.db)) throw new BicycleError('SERVICE_EXISTS', `a service named ${input.name} already exists`);
    // The common case answers at once; applying the command checks again, and that check decides.
    requirePortsFree(ctx.db, input.name, input.spec.ports);
    requireReplicasWithinLimit(ctx.db, input.name, input.replicas, maxReplicas);
    await proposeOrThrow(ctx, {
      type: 'service.create',
      id: randomBytes(12).toString('hex'),
      name: input.name,
      spec: input.spec,
      replicas: input.replicas,
      maxReplicas,
      at: ctx.now(),
    });
    ctx.log.info('service created', { service: input.name, image: input.spec.image, replicas: input.replicas });
    await waitForConverged(input.name, k.query);
    k.status = 201;
    k.set('Location', `/services/${input.name}`);
    k.body = view(requireService(input.name));
  });

  router.get('/services/:name', async (k) => {
    await readBarrier(ctx, k.query);
    const service = requireService(k.params.name!);
    answerJson(k, answers.get(readVersion(ctx.db).all, `one|${service.name}`, () => view(service)));
  });

  /** Every task of the service, history included, a page at a time: follow `next` until it is null. */
  router.get('/services/:name/tasks', async (k) => {
    const limit = parseInteger(k.query.limit, 'limit', DEFAULT_TASK_PAGE, 1, MAX_TASK_PAGE);
    const after = parseCursor(k.query.after);
    await readBarrier(ctx, k.query);
    const service = requireService(k.params.name!);
    const key = `tasks|${service.name}|${limit}|${typeof k.query.after === 'string' ? k.query.after : ''}`;
    answerJson(k, answers.get(readVersion(ctx.db).all, key, () => ctx.db.transaction(() => readTaskPage(ctx.db, service.name, after, limit))()));
  });

  router.patch('/services/:name', async (k) => {
    const service = requireService(k.params.name!);
    const changes = parseServiceChanges(k.request.body);
    if (service.mode === 'global' && changes.replicas !== undefined) {
      throw new BicycleError('INVALID_ARGUMENT', `replicas: service ${service.name} is global: it runs one replica on every eligible node, so it has no replica count to change`);
    }
    parseFlag(k.query.wait, 'wait', false);
    parseInteger(k.query.timeout, 'timeout', 60, 1, MAX_WAIT_SECONDS);
    if (changes.ports) requirePortsFree(ctx.db, service.name, changes.ports);
    if (changes.replicas !== undefined) requireReplicasWithinLimit(ctx.db, service.name, changes.replicas, maxReplicas, service.replicas);
    await proposeOrThrow(ctx, { type: 'service.update', name: service.name, changes, maxReplicas, at: ctx.now() });
    ctx.log.info('service updated', { service: service.name, changes: Object.keys(changes).join(',') });
    await waitForConverged(service.name, k.query);
    k.body = view(requireService(service.name));
  });

  /**
   * Back to an earlier spec: `{ "version": N }`, or without a body the one
   * the current update started from (else the one before the current). The
   * rollback policy rolls it out; `?wait=true` as for PATCH.
   */
  router.post('/services/:name/rollback', async (k) => {
    const service = requireService(k.params.name!);
    const { toVersion } = parseRollback(k.request.body);
    parseFlag(k.query.wait, 'wait', false);
    parseInteger(k.query.timeout, 'timeout', 60, 1, MAX_WAIT_SECONDS);
    const reason = toVersion === undefined ? 'rollback asked for' : `rollback to version ${toVersion} asked for`;
    await proposeOrThrow(ctx, { type: 'service.rollback', name: service.name, ...(toVersion === undefined ? {} : { toVersion }), reason, at: ctx.now() });
    ctx.log.info('service rollback requested', { service: service.name, toVersion: toVersion ?? 'previous' });
    await waitForConverged(service.name, k.query);
    k.body = view(requireService(service.name));
  });

  /** The recorded spec versions (the newest few), newest first; `current` marks the one the service runs. */
  router.get('/services/:name/history', async (k) => {
    await readBarrier(ctx, k.query);
    const service = requireService(k.params.name!);
    const versions = listServiceVersions(ctx.db, service.name);
    k.body = { versions: versions.map((v) => presentVersion(v, service.specVersion)) };
  });

  router.delete('/services/:name', async (k) => {
    const name = parseServiceName(k.params.name!);
    // A retried delete (same Idempotency-Key) of a service already gone: the deletion it asked for is done.
    if (!getService(ctx.db, name) && isReplay(ctx.db)) {
      k.status = 202;
      k.body = { name, state: 'DELETED', running: 0, tasks: [] };
      return;
    }
    const service = requireService(name);
    const wait = parseFlag(k.query.wait, 'wait', false);
    const timeoutMs = parseInteger(k.query.timeout, 'timeout', 60, 1, MAX_WAIT_SECONDS) * 1000;
    const before = view(service);
    await proposeOrThrow(ctx, { type: 'service.delete', name: service.name, at: ctx.now() });
    ctx.log.info('service deletion requested', { service: service.name });
    if (wait && (await waitUntil(ctx, () => !getService(ctx.db, service.name), timeoutMs))) {
      k.status = 200;
      k.body = { ...before, state: 'DELETED', running: 0, healthy: 0, tasks: [], tasksOmitted: 0 };
      return;
    }
    k.status = 202;
    // A service with no placed task may be gone already: that is a finished deletion, not a 404.
    const now = getService(ctx.db, service.name);
    k.body = now ? view(now) : { ...before, state: 'DELETED', running: 0, healthy: 0, tasks: [], tasksOmitted: 0 };
  });

  /** Opt-in rebalance: even out the replicas over the nodes, a few at a time. */
  router.post('/services/:name/rebalance', async (k) => {
    const service = requireService(k.params.name!);
    await proposeOrThrow(ctx, { type: 'service.rebalance', name: service.name, requested: true, at: ctx.now() });
    ctx.log.info('rebalance requested', { service: service.name });
    k.status = 202;
    k.body = view(requireService(service.name));
  });

  router.post('/rebalance', async (k) => {
    const services = listServices(ctx.db).filter((s) => s.state !== 'DELETE' && s.state !== 'DELETING');
    const at = ctx.now();
    if (services.length > 0) {
      await proposeOrThrow(ctx, { type: 'batch', commands: services.map((s) => ({ type: 'service.rebalance' as const, name: s.name, requested: true, at })) });
    }
    ctx.log.info('rebalance requested', { services: services.length });
    k.status = 202;
    k.body = { services: services.map((s) => s.name) };
  });

  router.get('/services/:name/logs', (k) => {
    const service = requireService(k.params.name!);
    const follow = parseFlag(k.query.follow, 'follow', false);
    const tail = parseInteger(k.query.tail, 'tail', 100, 0, 100_000);
    const format = parseLogsFormat(k.query.format);
    k.type = format === 'ndjson' ? 'application/x-ndjson' : 'text/plain; charset=utf-8';
    k.set('Cache-Control', 'no-cache');
    k.body = serviceLogs(ctx, service.name, { follow, tail, format });
    if (follow) k.flushHeaders();
  });

  return router;
}
