import { UnrecoverableError, Worker, type ConnectionOptions, type Job, type Processor } from "bullmq";
import type { Logger } from "pino";
import type { Db } from "../db/client.js";
import { reprocessTask } from "../db/sql/reprocess-task.js";
import { parseReprocessRequest } from "../domain/reprocess-request.js";
import { REPROCESS_JOB, REPROCESS_QUEUE } from "./names.js";
import type { ReprocessJobData, ReprocessResult } from "./reprocess-queue.js";

export interface ReprocessProcessorDeps {
  db: Db;
  logger: Logger;
}

export interface ReprocessWorkerDeps extends ReprocessProcessorDeps {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
}

/**
 * The request's idempotency key. Stable across redeliveries of one job (same queue, id and creation
 * time), and unique even when job ids restart at 1 (a flushed Redis, another QUEUE_PREFIX on the
 * same database), which `${queue}:${id}` alone would not be.
 */
export const reprocessRequestId = (job: Job) => `${job.queueQualifiedName}:${job.id}:${job.timestamp}`;

/** parse → database → result. Bad input and unknown tasks fail at once; anything else is retried by BullMQ. */
export function createReprocessProcessor(deps: ReprocessProcessorDeps): Processor<ReprocessJobData, ReprocessResult> {
  return async (job) => {
    const requestId = reprocessRequestId(job);
    const line = { jobId: job.id, requestId, attempt: job.attemptsMade + 1 };
    const reject = (message: string): never => {
      deps.logger.warn({ ...line, outcome: "rejected", reason: message }, "reprocess rejected");
      throw new UnrecoverableError(message);
    };

    if (job.name !== REPROCESS_JOB) reject(`BadRequest: unknown job name ${JSON.stringify(job.name)} on ${REPROCESS_QUEUE}; the only job is "${REPROCESS_JOB}"`);
    const parsed = parseReprocessRequest(job.data);
    if (!parsed.ok) return reject(parsed.error);
    const { target, actor } = parsed.request;

    let outcome;
    try {
      outcome = await reprocessTask(deps.db, target, { requestId, actor });
    } catch (error) {
      const willRetry = job.attemptsMade + 1 < (job.opts.attempts ?? 1);
      deps.logger.warn({ ...line, target, actor, outcome: willRetry ? "retrying" : "failed", err: error }, willRetry ? "reprocess attempt failed; will retry" : "reprocess failed; no attempts left");
      throw error;
    }
    if (outcome.kind === "notFound") return reject(outcome.message);

    const result: ReprocessResult = { taskId: outcome.taskId, restartCount: outcome.restartCount, status: outcome.status };
    deps.logger.info(
      { ...line, target, actor, outcome: outcome.kind, fromStatus: outcome.fromStatus, ...result },
      outcome.kind === "applied" ? "task reprocessed" : "reprocess request already applied; returning its result",
    );
    return result;
  };
}

export function createReprocessWorker(deps: ReprocessWorkerDeps): Worker<ReprocessJobData, ReprocessResult> {
  return new Worker<ReprocessJobData, ReprocessResult>(REPROCESS_QUEUE, createReprocessProcessor(deps), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: deps.concurrency,
  });
}
