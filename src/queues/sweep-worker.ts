import { randomUUID } from "node:crypto";
import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from "bullmq";
import type { Logger } from "pino";
import type { Db } from "../db/client.js";
import type { Rule } from "../domain/rules.js";
import { parseSweepJobData } from "../domain/sweep-request.js";
import { runSweep, type SweepResult, type SweepOptions } from "../sweep/run-sweep.js";
import { SWEEP_JOB, SWEEP_QUEUE } from "./names.js";
import type { SweepJobData } from "./sweep-queue.js";

export interface SweepWorkerDeps {
  db: Db;
  rules: readonly Rule[];
  batchSize: number;
  logger: Logger;
  connection: ConnectionOptions;
  prefix: string;
  /** True once shutdown began: the sweep in flight stops after its current batch. */
  stopping: () => boolean;
  onBatch?: SweepOptions["onBatch"];
  onSweep?: (result: SweepResult) => void;
}

export function createSweepWorker(deps: SweepWorkerDeps): Worker<SweepJobData, SweepResult> {
  const processor = async (job: Job<SweepJobData, SweepResult>, token?: string): Promise<SweepResult> => {
    // Taken in the moment shutdown began: put it back at once for another replica (or this one,
    // restarted) instead of starting a sweep that would stop at once and count as done.
    if (deps.stopping()) {
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    if (job.name !== SWEEP_JOB) throw new UnrecoverableError(`BadRequest: unknown job name "${job.name}" on ${SWEEP_QUEUE}; the only job is "${SWEEP_JOB}"`);
    const parsed = parseSweepJobData(job.data, deps.rules);
    if (!parsed.ok) {
      deps.logger.warn({ jobId: job.id, reason: parsed.error }, "sweep job rejected");
      throw new UnrecoverableError(parsed.error);
    }
    const { dryRun } = parsed.request;
    const result = await runSweep(deps.db, deps.rules, {
      sweepId: randomUUID(),
      dryRun,
      batchSize: deps.batchSize,
      shouldStop: deps.stopping,
      onBatch: deps.onBatch,
    });
    deps.logger.info({ jobId: job.id, scheduled: job.repeatJobKey !== undefined, ...result }, dryRun ? "dry-run sweep finished" : "sweep finished");
    deps.onSweep?.(result);
    return result;
  };
  // One sweep at a time per replica; replicas may overlap safely (rows are claimed with SKIP LOCKED).
  return new Worker<SweepJobData, SweepResult>(SWEEP_QUEUE, processor, { connection: deps.connection, prefix: deps.prefix, concurrency: 1 });
}
