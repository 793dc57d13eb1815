// Composition root: config → db → redis → queues → workers → http. startWatchdog() runs the
// whole worker in-process (tests start and stop it); main.ts adds signals and exit codes.
import type { Logger } from "pino";
import type { Config } from "./config/settings.js";
import { ConfigError } from "./config/load-config.js";
import { exposureProblems } from "./config/cross-checks.js";
import type { Rule } from "./domain/rules.js";
import { createDb, type Db } from "./db/client.js";
import { createRedis } from "./queues/redis.js";
import { createSweepQueue, scheduleSweep, unscheduleSweep } from "./queues/sweep-queue.js";
import { createSweepWorker } from "./queues/sweep-worker.js";
import { createReprocessQueue } from "./queues/reprocess-queue.js";
import { createReprocessWorker } from "./queues/reprocess-worker.js";
import { startHttpServer, type HttpServer } from "./http/server.js";
import { healthz, readyz } from "./http/health.js";
import { bullBoardMount } from "./http/bull-board.js";
import { metricsHandler } from "./http/metrics.js";
import { sweepHealthHandler } from "./http/sweep-health.js";
import { restartProcessing, RESTART_PROCESSING_PATH } from "./http/restart-processing.js";
import { readApiRoutes } from "./http/read-api/routes.js";
import { createMetrics } from "./metrics/metrics.js";
import { redisNowMs, sweepHealthCheck } from "./metrics/last-sweep.js";
import { sweepHooks } from "./metrics/sweep-hooks.js";
import { buildInfo } from "./metrics/build-info.js";

export interface Watchdog {
  readonly httpUrl: string;
  readonly db: Db;
  /** Graceful stop: no new jobs, the batch in flight finishes, connections close. Safe to call twice. */
  close(): Promise<void>;
}

export async function startWatchdog(config: Config, rules: readonly Rule[], logger: Logger): Promise<Watchdog> {
  // Refuse before connecting anywhere: nothing to undo.
  const exposure = exposureProblems(config);
  if (exposure.length > 0) throw new ConfigError(exposure);
  const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
  let stopping = false;
  const close = async () => {
    stopping = true;
    // Reverse order of start: stop taking work before closing what the work needs.
    for (const step of cleanups.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        logger.warn({ err: error, step: step.name }, "shutdown step failed");
      }
    }
  };

  try {
    // Each reprocess in flight holds a connection for its transaction; the sweep and health checks need a few more.
    const db = createDb(config.databaseUrl, { max: config.reprocessConcurrency + 5 });
    cleanups.push({ name: "postgres", run: () => db.$disconnect() });
    const redis = createRedis(config.redisUrl, { clusterNodes: config.redisClusterNodes });
    redis.on("error", (error) => logger.warn({ err: error }, "redis connection error"));
    cleanups.push({ name: "redis", run: () => redis.quit() });

    const sweepQueue = createSweepQueue(redis, config.queuePrefix);
    cleanups.push({ name: "sweep queue", run: () => sweepQueue.close() });
    if (config.sweepScheduleEnabled) {
      await scheduleSweep(sweepQueue, config.sweepIntervalMs);
    } else {
      await unscheduleSweep(sweepQueue);
    }
    // The queue is what the HTTP endpoint enqueues on; it closes after the server (reverse order).
    const reprocessQueue = createReprocessQueue(redis, config.queuePrefix);
    cleanups.push({ name: "reprocess queue", run: () => reprocessQueue.close() });
    // Without a listener BullMQ prints a queue's connection errors to stderr, past the logger.
    for (const queue of [sweepQueue, reprocessQueue]) queue.on("error", (error) => logger.warn({ err: error, queue: queue.name }, "queue connection error"));

    // Overdue is judged by the Redis clock, shared by every replica; this start opens the grace period.
    const sweepHealth = sweepHealthCheck({
      redis,
      prefix: config.queuePrefix,
      overdueAfterMs: config.sweepOverdueAfterMs ?? 3 * config.sweepIntervalMs,
      startedAtMs: await redisNowMs(redis),
    });
    const metrics = createMetrics({ db, rules, queues: [sweepQueue, reprocessQueue], sweepHealth, logger, build: buildInfo(config.buildCommit) });
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
    sweepWorker.on("failed", (job, error) => {
      hooks.onFailed(job?.data?.dryRun === true);
      logger.error({ jobId: job?.id, err: error }, "sweep failed");
    });
    sweepWorker.on("error", (error) => logger.error({ err: error }, "sweep worker error"));
    cleanups.push({ name: "sweep worker", run: () => sweepWorker.close() });

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
    reprocessWorker.on("error", (error) => logger.error({ err: error }, "reprocess worker error"));
    cleanups.push({ name: "reprocess worker", run: () => reprocessWorker.close() });

    const http: HttpServer = await startHttpServer({
      host: config.host,
      port: config.port,
      logger,
      onFault: metrics.httpFault,
      routes: [
        { method: "GET", path: "/healthz", handler: healthz },
        { method: "GET", path: "/readyz", handler: readyz({ db, redis }) },
        { method: "GET", path: "/health/sweeps", handler: sweepHealthHandler(sweepHealth) },
        { method: "GET", path: "/metrics", handler: metricsHandler(metrics.registry) },
        {
          method: "PATCH",
          path: RESTART_PROCESSING_PATH,
          handler: restartProcessing({ tokens: config.apiTokens ?? [], db, queue: reprocessQueue, rules, logger, onOutcome: metrics.reprocessRequest }),
        },
        ...readApiRoutes({ tokens: config.apiTokens ?? [], db, rules }),
      ],
      mounts: [bullBoardMount({ queues: [sweepQueue, reprocessQueue], readOnly: config.bullBoardReadOnly, credentials: boardCredentials(config), logger })],
    });
    cleanups.push({ name: "http", run: () => http.close() });

    logger.info(
      {
        http: http.url,
        sweepIntervalMs: config.sweepIntervalMs,
        sweepBatchSize: config.sweepBatchSize,
        scheduled: config.sweepScheduleEnabled,
        rules: rules.length,
        bullBoard: { auth: config.bullBoardUser ? "basic" : "none (loopback only)", readOnly: config.bullBoardReadOnly },
        apiTokenCount: (config.apiTokens ?? []).length,
      },
      "watchdog started",
    );
    let closed: Promise<void> | undefined;
    return { httpUrl: http.url, db, close: () => (closed ??= close()) };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Basic-auth credentials of the board, or undefined (config loading allows that on loopback only). */
function boardCredentials(config: Config): { user: string; password: string } | undefined {
  return config.bullBoardUser && config.bullBoardPassword ? { user: config.bullBoardUser, password: config.bullBoardPassword } : undefined;
}
