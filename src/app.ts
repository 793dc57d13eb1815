// Composition root: config → db → redis → queues → workers → http. startWatchdog() runs the
// whole worker in-process (tests start and stop it); main.ts adds signals and exit codes.
import type { Logger } from "pino";
import type { Config } from "./config/settings.js";
import type { Rule } from "./domain/rules.js";
import { createDb, type Db } from "./db/client.js";
import { createRedis } from "./queues/redis.js";
import { createSweepQueue, scheduleSweep, unscheduleSweep } from "./queues/sweep-queue.js";
import { createSweepWorker } from "./queues/sweep-worker.js";
import { createReprocessQueue } from "./queues/reprocess-queue.js";
import { createReprocessWorker } from "./queues/reprocess-worker.js";
import { startHttpServer, type HttpServer } from "./http/server.js";
import { healthz, readyz } from "./http/health.js";

export interface Watchdog {
  readonly httpUrl: string;
  readonly db: Db;
  /** Graceful stop: no new jobs, the batch in flight finishes, connections close. Safe to call twice. */
  close(): Promise<void>;
}

export async function startWatchdog(config: Config, rules: readonly Rule[], logger: Logger): Promise<Watchdog> {
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
    const redis = createRedis(config.redisUrl);
    redis.on("error", (error) => logger.warn({ err: error }, "redis connection error"));
    cleanups.push({ name: "redis", run: () => redis.quit() });

    const sweepQueue = createSweepQueue(redis, config.queuePrefix);
    cleanups.push({ name: "sweep queue", run: () => sweepQueue.close() });
    if (config.sweepScheduleEnabled) {
      await scheduleSweep(sweepQueue, config.sweepIntervalMs);
    } else {
      await unscheduleSweep(sweepQueue);
    }

    const sweepWorker = createSweepWorker({
      db,
      rules,
      batchSize: config.sweepBatchSize,
      logger,
      connection: redis,
      prefix: config.queuePrefix,
      stopping: () => stopping,
    });
    sweepWorker.on("failed", (job, error) => logger.error({ jobId: job?.id, err: error }, "sweep failed"));
    sweepWorker.on("error", (error) => logger.error({ err: error }, "sweep worker error"));
    cleanups.push({ name: "sweep worker", run: () => sweepWorker.close() });

    // The queue is what the HTTP endpoint enqueues on; it closes after the server (reverse order).
    const reprocessQueue = createReprocessQueue(redis, config.queuePrefix);
    cleanups.push({ name: "reprocess queue", run: () => reprocessQueue.close() });
    // The processor logs one line per request with its outcome; here only the worker's own faults.
    const reprocessWorker = createReprocessWorker({ db, logger, connection: redis, prefix: config.queuePrefix, concurrency: config.reprocessConcurrency });
    reprocessWorker.on("error", (error) => logger.error({ err: error }, "reprocess worker error"));
    cleanups.push({ name: "reprocess worker", run: () => reprocessWorker.close() });

    const http: HttpServer = await startHttpServer({
      host: config.host,
      port: config.port,
      logger,
      routes: [
        { method: "GET", path: "/healthz", handler: healthz },
        { method: "GET", path: "/readyz", handler: readyz({ db, redis }) },
      ],
    });
    cleanups.push({ name: "http", run: () => http.close() });

    logger.info(
      { http: http.url, sweepIntervalMs: config.sweepIntervalMs, sweepBatchSize: config.sweepBatchSize, scheduled: config.sweepScheduleEnabled, rules: rules.length },
      "watchdog started",
    );
    let closed: Promise<void> | undefined;
    return { httpUrl: http.url, db, close: () => (closed ??= close()) };
  } catch (error) {
    await close();
    throw error;
  }
}
