// The reprocess component: the worker that applies reprocess requests (from the API, the CLI or
// any producer on task-reprocess). Producers enqueue with enqueueReprocess (reprocess-queue.ts).
import type { Component, Context } from "../platform/component.js";
import { closeSteps, onShutdown } from "../platform/component.js";
import { closeWorkerWithin, workerCloseMs } from "../platform/close-worker.js";
import { throttledErrorLog } from "../platform/log-safety.js";
import type { Metrics } from "../ops/metrics.js";
import { createReprocessWorker } from "./reprocess-worker.js";

export function startReprocess(ctx: Context, metrics: Metrics): Component {
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
  return { name: "reprocess", close: () => closeSteps([["reprocess worker", draining]]) };
}
