// The sweep component: the repeating schedule on its queue (put back whenever Redis lost it:
// keep-scheduled.ts), and the worker that runs one sweep at a time (plan → statements → metrics and
// the shared "last completed sweep" in Redis).
import type { Component, Context } from "../platform/component.js";
import { closeSteps } from "../platform/component.js";
import { withTimeout } from "../platform/deadline.js";
import { shutdownWorker } from "../platform/drain-worker.js";
import { throttledErrorLog } from "../platform/log-safety.js";
import type { Metrics } from "../ops/metrics.js";
import { createSweepQueue, scheduleSweep, unscheduleSweep } from "./sweep-queue.js";
import { keepSweepScheduled } from "./keep-scheduled.js";
import { createSweepWorker } from "./sweep-worker.js";
import { sweepHooks } from "./sweep-hooks.js";
import { adaptiveBatchSize } from "./batch-size.js";

export async function startSweep(ctx: Context, metrics: Metrics): Promise<Component> {
  const { config, logger, redis } = ctx;
  const queueConnection = redis.connect("producer", "sweep queue");
  const queue = createSweepQueue(queueConnection, config.queuePrefix);
  queue.on("error", throttledErrorLog(logger, "queue connection error", { queue: queue.name }));
  try {
    if (config.sweepScheduleEnabled) await scheduleSweep(queue, config.sweepIntervalMs);
    else await unscheduleSweep(queue);
  } catch (error) {
    await queue.close().catch(() => undefined);
    throw error;
  }
  const keeper = config.sweepScheduleEnabled ? keepSweepScheduled(queue, queueConnection, config.sweepIntervalMs, logger) : undefined;
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
    onBatchCancelled: hooks.onBatchCancelled,
    onStatusFailed: hooks.onStatusFailed,
    onSweep: hooks.onSweep,
    activity: ctx.sweeps,
  });
  worker.on("failed", (job, error) => {
    hooks.onFailed(job?.data?.dryRun === true);
    logger.error({ jobId: job?.id, err: error }, "sweep failed");
  });
  worker.on("error", throttledErrorLog(logger, "sweep worker error"));
  const closeWorker = shutdownWorker(ctx, worker);
  return {
    name: "sweep",
    close: (budget) =>
      closeSteps([
        ["sweep schedule check", () => keeper?.stop()],
        ["sweep worker", () => closeWorker(budget)],
        ["sweep queue", () => withTimeout(budget.remainingMs(), "closing the sweep queue", queue.close())],
      ]),
  };
}

