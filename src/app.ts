// Composition root: config → db → redis → queues → workers → http. startWatchdog() runs the
// whole worker in-process (tests start and stop it); worker-process.ts adds signals and exit codes.
import type { Logger } from "pino";
import type { Config } from "./config/settings.js";
import { ConfigError } from "./config/load-config.js";
import { exposureProblems } from "./config/cross-checks.js";
import type { Rule } from "./domain/rules.js";
import { createDb, type Db } from "./db/client.js";
import { createRedis, type RedisConnection } from "./queues/redis.js";
import { createSweepQueue, scheduleSweep, unscheduleSweep } from "./queues/sweep-queue.js";
import { createSweepWorker } from "./queues/sweep-worker.js";
import { createReprocessQueue } from "./queues/reprocess-queue.js";
import { createReprocessWorker } from "./queues/reprocess-worker.js";
import { startHttpServer, type HttpServer } from "./http/server.js";
import { apiRoutes, opsMounts, opsRoutes, type RouteDeps } from "./http/routes.js";
import type { Route } from "./http/types.js";
import { createMetrics } from "./metrics/metrics.js";
import { coalesced } from "./lib/coalesce.js";
import { closeWorkerWithin } from "./queues/close-worker.js";
import { redisNowMs, sweepHealthCheck } from "./metrics/last-sweep.js";
import { findPauses } from "./db/sql/find-pauses.js";
import { sweepHooks } from "./metrics/sweep-hooks.js";
import { buildInfo } from "./metrics/build-info.js";
import { throttledErrorLog } from "./log-safety.js";
import { createOutboxMetrics } from "./metrics/outbox-metrics.js";
import { loadWebhookEndpoints } from "./events/webhook-config.js";
import { relayTargets, startOutboxRelay } from "./events/outbox-relay.js";
import { createWebhookWorker } from "./events/webhook-worker.js";
import { createEventsQueue, createWebhooksQueue } from "./events/queues.js";
import { createOutboxPool } from "./events/outbox-pool.js";
import { WEBHOOKS_QUEUE } from "./queues/names.js";

export interface Watchdog {
  /** The external API listener (API_HOST:API_PORT). */
  readonly apiUrl: string;
  /** The ops listener (OPS_HOST:OPS_PORT): health, metrics, Bull Board. */
  readonly opsUrl: string;
  /** What each listener serves (the board is a mount of the ops listener, not listed). */
  readonly routes: { readonly api: readonly Route[]; readonly ops: readonly Route[] };
  readonly db: Db;
  /**
   * Graceful stop: both workers stop taking jobs at once, the batch and requests in flight finish,
   * listeners and connections close. Safe to call twice. Resolves with the steps that failed (each logged).
   */
  close(): Promise<ShutdownReport>;
}

export interface ShutdownReport {
  /** Names of the shutdown steps that failed; empty when the worker shut down cleanly. */
  readonly failed: readonly string[];
}

export async function startWatchdog(config: Config, rules: readonly Rule[], logger: Logger): Promise<Watchdog> {
  // Refuse before connecting anywhere: nothing to undo.
  const exposure = exposureProblems(config);
  if (exposure.length > 0) throw new ConfigError(exposure);
  const webhookEndpoints = loadWebhookEndpoints(config);
  const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
  // The workers stop fetching together, first: while one drains, the other must not take a job
  // (a sweep taken now would stop at once and be stored as done, losing its interval for every replica).
  const workers: { name: string; close: () => Promise<unknown> }[] = [];
  let stopping = false;
  // Two bounded rounds of a worker's close (graceful, then disconnected) fit in the shutdown deadline.
  const workerCloseMs = Math.floor(config.shutdownTimeoutMs / 3);
  const close = async (): Promise<ShutdownReport> => {
    stopping = true;
    const failed: string[] = [];
    const guarded = async (name: string, run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (error) {
        failed.push(name);
        logger.warn({ err: error, step: name }, "shutdown step failed");
      }
    };
    const draining = Promise.all(workers.splice(0).map((w) => guarded(w.name, w.close)));
    // Then the reverse order of start: the listeners first, the connections the work needs last.
    const rest = cleanups.splice(0).reverse();
    const beforeWorkers = rest.filter((step) => step.name.startsWith("http"));
    for (const step of beforeWorkers) await guarded(step.name, step.run);
    await draining;
    for (const step of rest.filter((s) => !beforeWorkers.includes(s))) await guarded(step.name, step.run);
    return { failed };
  };

  try {
    // Each reprocess in flight holds a connection for its transaction; the sweep and health checks need a few more.
    const db = createDb(config.databaseUrl, {
      max: config.reprocessConcurrency + 5,
      statementTimeoutMs: config.databaseStatementTimeoutMs,
      connectTimeoutMs: config.databaseConnectTimeoutMs,
      logger,
    });
    cleanups.push({ name: "postgres", run: () => db.$disconnect() });
    const redis = createRedis(config.redisUrl, { clusterNodes: config.redisClusterNodes });
    // One outage reaches every client and worker of this connection: each logs its first error, then a summary per 10 s.
    redis.on("error", throttledErrorLog(logger, "redis connection error"));
    cleanups.push({ name: "redis", run: () => redis.quit() });

    const sweepQueue = createSweepQueue(redis, config.queuePrefix);
    cleanups.push({ name: "sweep queue", run: () => sweepQueue.close() });
    if (config.sweepScheduleEnabled) {
      await scheduleSweep(sweepQueue, config.sweepIntervalMs);
    } else {
      await unscheduleSweep(sweepQueue);
    }
    // The outbox relay's own connections (session advisory locks per target) and its producers.
    const outboxPool = createOutboxPool(config.databaseUrl, config.webhookConcurrency + 2, logger, { statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
    cleanups.push({ name: "outbox pool", run: () => outboxPool.end() });
    const eventsQueue = config.eventsQueueEnabled ? createEventsQueue(redis, config.queuePrefix) : null;
    if (eventsQueue) cleanups.push({ name: "events queue", run: () => eventsQueue.close() });
    const webhooksQueue = webhookEndpoints.length > 0 ? createWebhooksQueue(redis, config.queuePrefix) : null;
    if (webhooksQueue) cleanups.push({ name: "webhooks queue", run: () => webhooksQueue.close() });

    // Without a listener BullMQ prints a queue's connection errors to stderr, past the logger.
    for (const queue of [sweepQueue, eventsQueue, webhooksQueue]) queue?.on("error", throttledErrorLog(logger, "queue connection error", { queue: queue.name }));

    // Everything served over HTTP uses a connection of its own that fails fast (purpose "request"):
    // a caller gets a 503 within seconds while Redis is away, and no command of theirs is queued
    // to run after they were told it failed. The queues on it are producers only.
    const requestRedis = createRedis(config.redisUrl, { clusterNodes: config.redisClusterNodes, purpose: "request" });
    requestRedis.on("error", (error) => logger.debug({ err: error }, "redis connection error (HTTP connection)"));
    // disconnect, not quit: a producer connection has nothing worth flushing, and quit would wait on a connection that is down.
    cleanups.push({ name: "redis (HTTP)", run: async () => requestRedis.disconnect() });
    const httpQueues = [createSweepQueue(requestRedis, config.queuePrefix), createReprocessQueue(requestRedis, config.queuePrefix)] as const;
    // The board and the queue-depth metric also show the events and webhooks queues (failed deliveries).
    const boardQueues = [
      ...httpQueues,
      ...(eventsQueue ? [createEventsQueue(requestRedis, config.queuePrefix)] : []),
      ...(webhooksQueue ? [createWebhooksQueue(requestRedis, config.queuePrefix)] : []),
    ];
    for (const queue of boardQueues) {
      queue.on("error", (error) => logger.debug({ err: error, queue: queue.name }, "queue connection error (HTTP connection)"));
      cleanups.push({ name: `${queue.name} queue (HTTP)`, run: () => queue.close() });
    }
    await readyWithin(requestRedis, 5000);
    // Overdue is judged by the Redis clock, shared by every replica; this start opens the grace period.
    const sweepHealth = sweepHealthCheck({
      redis: requestRedis,
      prefix: config.queuePrefix,
      overdueAfterMs: config.sweepOverdueAfterMs ?? 3 * config.sweepIntervalMs,
      startedAtMs: await redisNowMs(redis),
    });
    // The pause state (PostgreSQL) for /metrics and /health/sweeps: one query serves a second of requests.
    const pauses = coalesced(1000, async () => (await findPauses(db)).open);
    const metrics = createMetrics({ db, rules, queues: boardQueues, sweepHealth, pauses, logger, build: buildInfo(config.buildCommit) });
    const relayOptions = { eventsQueue, webhooks: webhooksQueue ? { queue: webhooksQueue, organizationIds: webhookEndpoints.map((e) => e.organizationId) } : null };
    const outboxMetrics = createOutboxMetrics({ registry: metrics.registry, pool: outboxPool, targets: relayTargets(relayOptions), logger });
    // Sweeps of this process in progress: the relay and the webhook deliveries give way to them.
    let sweeping = 0;
    const deferWhile = () => sweeping > 0;
    // Before the workers: a target new to this database starts before the first event is written.
    const relay = await startOutboxRelay({ pool: outboxPool, logger, metrics: outboxMetrics, intervalMs: config.outboxPollIntervalMs, batchSize: config.outboxBatchSize, deferWhile, ...relayOptions });
    cleanups.push({ name: "outbox relay", run: () => relay.close() });
    const hooks = sweepHooks({ metrics, redis, prefix: config.queuePrefix, logger });

    const sweepWorker = createSweepWorker({
      db,
      rules,
      batchSize: config.sweepBatchSize,
      escalateAfter: config.escalateAfterReverts,
      logger,
      connection: redis,
      prefix: config.queuePrefix,
      stopping: () => stopping,
      onBatch: hooks.onBatch,
      onSweep: hooks.onSweep,
    });
    sweepWorker.on("active", () => void (sweeping += 1));
    for (const finished of ["completed", "failed"] as const) sweepWorker.on(finished, () => void (sweeping = Math.max(0, sweeping - 1)));
    sweepWorker.on("failed", (job, error) => {
      hooks.onFailed(job?.data?.dryRun === true);
      logger.error({ jobId: job?.id, err: error }, "sweep failed");
    });
    sweepWorker.on("error", throttledErrorLog(logger, "sweep worker error"));
    workers.push({ name: "sweep worker", close: () => closeWorkerWithin(sweepWorker, workerCloseMs, logger) });

    // The processor logs one line per request with its outcome; here only the worker's own faults.
    const reprocessWorker = createReprocessWorker({
      db,
      rules,
      logger,
      connection: redis,
      prefix: config.queuePrefix,
      concurrency: config.reprocessConcurrency,
      onOutcome: metrics.reprocessJob,
    });
    reprocessWorker.on("error", throttledErrorLog(logger, "reprocess worker error"));
    workers.push({ name: "reprocess worker", close: () => closeWorkerWithin(reprocessWorker, workerCloseMs, logger) });

    if (webhooksQueue) {
      const webhookWorker = createWebhookWorker({
        pool: outboxPool,
        endpoints: webhookEndpoints,
        batchSize: config.outboxBatchSize,
        timeoutMs: config.webhookTimeoutMs,
        retryForMs: config.webhookRetryForMs,
        retryDelayMs: config.webhookRetryDelayMs,
        retryMaxDelayMs: config.webhookRetryMaxDelayMs,
        concurrency: config.webhookConcurrency,
        logger,
        metrics: outboxMetrics,
        stopping: () => stopping,
        deferWhile,
        connection: redis,
        prefix: config.queuePrefix,
      });
      // Each failed delivery is logged by the processor; here only the worker's own faults.
      webhookWorker.on("error", (error) => logger.error({ err: error }, "webhook worker error"));
      cleanups.push({ name: "webhook worker", run: () => closeWorkerWithin(webhookWorker, workerCloseMs, logger) });
    }

    const routeDeps: RouteDeps = {
      config,
      db,
      rules,
      redis: requestRedis,
      reprocessQueue: httpQueues[1],
      queues: boardQueues,
      sweepHealth,
      pauses,
      metrics,
      logger,
      console: {
        sweepQueue: httpQueues[0],
        webhooksQueue: boardQueues.find((q) => q.name === WEBHOOKS_QUEUE) ?? null,
        webhookOrganizationIds: webhookEndpoints.map((e) => e.organizationId),
        relayTargets: relayTargets(relayOptions),
      },
    };
    const routes = { api: apiRoutes(routeDeps), ops: opsRoutes(routeDeps) };
    const api: HttpServer = await startHttpServer({ host: config.apiHost, port: config.apiPort, logger, onFault: metrics.httpFault, routes: routes.api });
    cleanups.push({ name: "http (api)", run: () => api.close() });
    const ops: HttpServer = await startHttpServer({ host: config.opsHost, port: config.opsPort, logger, onFault: metrics.httpFault, routes: routes.ops, mounts: opsMounts(routeDeps) });
    cleanups.push({ name: "http (ops)", run: () => ops.close() });

    logger.info(
      {
        api: api.url,
        ops: ops.url,
        sweepIntervalMs: config.sweepIntervalMs,
        sweepBatchSize: config.sweepBatchSize,
        scheduled: config.sweepScheduleEnabled,
        rules: rules.length,
        bullBoard: { auth: config.bullBoardUser ? "basic" : "none (loopback only)", readOnly: config.bullBoardReadOnly },
        apiTokenCount: (config.apiTokens ?? []).length,
        events: { queue: eventsQueue !== null, webhookOrganizations: webhookEndpoints.map((e) => e.organizationId) },
      },
      "watchdog started",
    );
    let closed: Promise<ShutdownReport> | undefined;
    return { apiUrl: api.url, opsUrl: ops.url, routes, db, close: () => (closed ??= close()) };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Waits (bounded) until the fail-fast connection is ready: without an offline queue, a command
 * sent before the first connect fails. Past the bound the worker starts anyway and HTTP callers
 * get 503 until it connects.
 */
function readyWithin(redis: RedisConnection, ms: number): Promise<void> {
  if (redis.status === "ready") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      redis.off("ready", done);
      resolve();
    }
    redis.once("ready", done);
  });
}
