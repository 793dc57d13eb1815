import type { Config } from "../../platform/config/settings.js";
import type { Rule } from "../../rules/rules.js";
import { parseSweepJobData } from "../../sweep/sweep-request.js";
import { createSweepQueue, enqueueSweep, type SweepJobData } from "../../sweep/sweep-queue.js";
import { SWEEP_QUEUE } from "../../platform/queue-names.js";
import { CliError } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { isoDuration } from "../../rules/duration.js";
import { NO_WORKER_HINT, submitJob } from "../submit-job.js";

export interface SweepCommandOptions {
  dryRun: boolean;
  wait: boolean;
  timeoutMs: number;
  /** Status names or codes whose held probes act anyway, this once. */
  release?: string[];
  by?: string;
}

/**
 * Enqueues a manual sweep; with `wait`, waits for a worker to run it and prints the result. The
 * job data is checked here with the worker's own rules, so a mistake is a usage error (exit 2)
 * and nothing is enqueued.
 */
export async function enqueueSweepCommand(config: Config, rules: readonly Rule[], options: SweepCommandOptions): Promise<void> {
  if (options.by !== undefined && options.release === undefined) throw new CliError("BadRequest: --by goes with --release (who checked the held tasks); give --release <status>", EXIT.usage);
  if (options.release !== undefined && options.by === undefined) throw new CliError("BadRequest: --release needs --by <name>: who checked the held tasks, for the audit trail", EXIT.usage);
  const data: SweepJobData = { dryRun: options.dryRun, ...(options.release ? { release: options.release, releasedBy: options.by } : {}) };
  const parsed = parseSweepJobData(data, rules);
  if (!parsed.ok) throw new CliError(parsed.error.replace(/\breleasedBy\b/g, "--by").replace(/\brelease(\[\d+\])?(?!\w)/g, "--release"), EXIT.usage);
  const { job, outcome } = await submitJob(
    config,
    (redis) => createSweepQueue(redis, config.queuePrefix),
    (queue) => enqueueSweep(queue, data),
    options.wait ? options.timeoutMs : undefined,
  );
  switch (outcome.kind) {
    case "enqueued":
      return console.log(JSON.stringify({ enqueued: true, queue: SWEEP_QUEUE, jobId: job.id, dryRun: options.dryRun, ...(options.release ? { release: options.release, releasedBy: options.by } : {}) }));
    case "completed":
      return console.log(JSON.stringify(outcome.result, null, 2));
    case "timedOut":
      throw new CliError(`sweep job ${job.id} did not finish within ${isoDuration(options.timeoutMs / 1000)}: ${NO_WORKER_HINT}`);
    case "failed":
      throw new CliError(`sweep job ${job.id} failed: ${outcome.message}`);
  }
}
