// The reprocess component: the worker that applies reprocess requests (from the API, the CLI or
// any producer on task-reprocess), and the pacing loop that applies bulk reprocesses (bulk-loop.ts).
// Producers enqueue with enqueueReprocess (reprocess-queue.ts); bulks are accepted by askBulk.
import type { Component, Context } from "../platform/component.js";
import { closeSteps, onShutdown } from "../platform/component.js";
import { closeWorkerWithin, workerCloseMs } from "../platform/close-worker.js";
import { throttledErrorLog } from "../platform/log-safety.js";
import type { Metrics } from "../ops/metrics.js";
import { createReprocessWorker } from "./reprocess-worker.js";
import { startBulkLoop } from "./bulk-loop.js";

export interface Reprocess extends Component {
  /** This replica accepted a bulk: its loop starts on it now rather than at the next idle tick. */
  nudgeBulkLoop(): void;
}

export function startReprocess(ctx: Context, metrics: Metrics): Reprocess {
  const { config, logger } = ctx;
  // The processor logs one line per request with its outcome; here only the worker's own faults.
  const worker = createReprocessWorker({
    db: ctx.db,
    rules: ctx.rules,
    logger,
    connection: ctx.redis.connect("worker", "reprocess worker"),
    prefix: config.queuePrefix,
    concurrency: config.reprocessConcurrency,
    onOutcome: metrics.reprocessJob,
  });
  worker.on("error", throttledErrorLog(logger, "reprocess worker error"));
  const draining = onShutdown(ctx, () => closeWorkerWithin(worker, workerCloseMs(config), logger));
  // Bulk reprocesses: paced slices from PostgreSQL; a slice in flight finishes (or rolls back) on close.
  const bulkLoop = startBulkLoop({ db: ctx.db, logger, rules: ctx.rules, ratePerSecond: config.bulkReprocessRate, onSlice: metrics.bulkReprocessSlice });
  const bulkStopping = onShutdown(ctx, () => bulkLoop.close());
  return { name: "reprocess", nudgeBulkLoop: bulkLoop.nudge, close: () => closeSteps([["reprocess worker", draining], ["bulk reprocess loop", bulkStopping]]) };
}
