// The sweep component: the repeating schedule on its queue, and the worker that runs one sweep at
// a time (plan → statements → metrics and the shared "last completed sweep" in Redis).
import type { Component, Context } from "../platform/component.js";
import { closeSteps, onShutdown } from "../platform/component.js";
import { closeWorkerWithin, workerCloseMs } from "../platform/close-worker.js";
import { throttledErrorLog } from "../platform/log-safety.js";
import type { Metrics } from "../ops/metrics.js";
import { createSweepQueue, scheduleSweep, unscheduleSweep } from "./sweep-queue.js";
import { createSweepWorker } from "./sweep-worker.js";
import { sweepHooks } from "./sweep-hooks.js";
import { adaptiveBatchSize } from "./batch-size.js";

export async function startSweep(ctx: Context, metrics: Metrics): Promise<Component> {
  const { config, logger, redis } = ctx;
  const queue = createSweepQueue(redis.connect("producer", "sweep queue"), config.queuePrefix);
  queue.on("error", throttledErrorLog(logger, "queue connection error", { queue: queue.name }));
  try {
    if (config.sweepScheduleEnabled) await scheduleSweep(queue, config.sweepIntervalMs);
    else await unscheduleSweep(queue);
  } catch (error) {
    await queue.close().catch(() => undefined);
    throw error;
  }
  const hooks = sweepHooks({ metrics, redis: redis.connect("producer", "sweep state"), prefix: config.queuePrefix, logger });
  const worker = createSweepWorker({
    db: ctx.db,
    rules: ctx.rules,
    batchSize: config.sweepBatchSize,
    batchSizing: adaptiveBatchSize(config.sweepBatchSize, config.sweepBatchTimeBudgetMs),
    escalateAfter: config.escalateAfterReverts,
    logger,
    connection: redis.connect("worker", "sweep worker"),
    prefix: config.queuePrefix,
    stopping: () => ctx.shutdown.aborted,
    onBatch: hooks.onBatch,
    onSweep: hooks.onSweep,
  });
  worker.on("active", () => ctx.sweeps.begin());
  for (const finished of ["completed", "failed"] as const) worker.on(finished, () => ctx.sweeps.end());
  worker.on("failed", (job, error) => {
    hooks.onFailed(job?.data?.dryRun === true);
    logger.error({ jobId: job?.id, err: error }, "sweep failed");
  });
  worker.on("error", throttledErrorLog(logger, "sweep worker error"));
  const draining = onShutdown(ctx, () => closeWorkerWithin(worker, workerCloseMs(config), logger));
  return { name: "sweep", close: () => closeSteps([["sweep worker", draining], ["sweep queue", () => queue.close()]]) };
}

