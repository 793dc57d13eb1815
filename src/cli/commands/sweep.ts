import type { Config } from "../../config/settings.js";
import { createSweepQueue, enqueueSweep } from "../../queues/sweep-queue.js";
import { SWEEP_QUEUE } from "../../queues/names.js";
import { CliError } from "../context.js";
import { isoDuration } from "../../domain/duration.js";
import { NO_WORKER_HINT, submitJob } from "../submit-job.js";

/** Enqueues a manual sweep; with `wait`, waits for a worker to run it and prints the result. */
export async function enqueueSweepCommand(config: Config, options: { dryRun: boolean; wait: boolean; timeoutMs: number }): Promise<void> {
  const { job, outcome } = await submitJob(
    config,
    (redis) => createSweepQueue(redis, config.queuePrefix),
    (queue) => enqueueSweep(queue, { dryRun: options.dryRun }),
    options.wait ? options.timeoutMs : undefined,
  );
  switch (outcome.kind) {
    case "enqueued":
      return console.log(JSON.stringify({ enqueued: true, queue: SWEEP_QUEUE, jobId: job.id, dryRun: options.dryRun }));
    case "completed":
      return console.log(JSON.stringify(outcome.result, null, 2));
    case "timedOut":
      throw new CliError(`sweep job ${job.id} did not finish within ${isoDuration(options.timeoutMs / 1000)}: ${NO_WORKER_HINT}`);
    case "failed":
      throw new CliError(`sweep job ${job.id} failed: ${outcome.message}`);
  }
}
