import { UnrecoverableError, type ConnectionOptions, type Job, type Processor } from "bullmq";
import type { DrainableWorker } from "../platform/drain-worker.js";
import type { Logger } from "pino";
import type { Db } from "../platform/db/client.js";
import { JobDataWorker, unparsableJobDataMessage, unknownJobNameMessage } from "../platform/job-data-worker.js";
import { reprocessTask, type ReprocessTaskOutcome } from "./sql/reprocess-task.js";
import { decideReprocess } from "./reprocess-guard.js";
import { thresholdRows } from "../rules/resolve.js";
import { parseReprocessRequest } from "./reprocess-request.js";
import type { Rule } from "../rules/rules.js";
import { REPROCESS_JOB, REPROCESS_QUEUE } from "../platform/queue-names.js";
import { reprocessBackoffStrategy, type ReprocessJobData, type ReprocessResult } from "./reprocess-queue.js";
import { queueTelemetry } from "../platform/queue-telemetry.js";

/** What became of one delivery of a reprocess job: `watchdog_reprocess_jobs_total{outcome}`. */
export type ReprocessJobOutcome = "applied" | "already_applied" | "bad_request" | "not_found" | "conflict" | "failed" | "retried";

export interface ReprocessProcessorDeps {
  db: Db;
  logger: Logger;
  /** The effective rules: the guard judges "machine work in flight" by their thresholds. */
  rules: readonly Rule[];
  onOutcome?: (outcome: ReprocessJobOutcome) => void;
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

const rejectedAs = (message: string): ReprocessJobOutcome => (message.startsWith("NotFound:") ? "not_found" : message.startsWith("Conflict:") ? "conflict" : "bad_request");

/** parse → database (the guard decides on the locked row) → result. Bad input, unknown tasks and guard refusals fail at once; anything else is retried by BullMQ. */
export function createReprocessProcessor(deps: ReprocessProcessorDeps): Processor<ReprocessJobData, ReprocessResult> {
  const thresholds = thresholdRows(deps.rules);
  return async (job) => {
    const requestId = reprocessRequestId(job);
    const line = { jobId: job.id, requestId, attempt: job.attemptsMade + 1 };
    const reject = (message: string, context: object = {}): never => {
      deps.onOutcome?.(rejectedAs(message));
      deps.logger.warn({ ...line, ...context, outcome: "rejected", reason: message }, "reprocess rejected");
      throw new UnrecoverableError(message);
    };

    if (job.name !== REPROCESS_JOB) reject(unknownJobNameMessage(job.name, REPROCESS_QUEUE, REPROCESS_JOB));
    const unparsable = unparsableJobDataMessage(job.data, '{"taskId": 42}');
    if (unparsable !== null) return reject(unparsable);
    const parsed = parseReprocessRequest(job.data);
    if (!parsed.ok) return reject(parsed.error);
    const { target, actor, force, httpRequestId } = parsed.request;
    const context = { target, actor, ...(force ? { force } : {}), ...(httpRequestId === undefined ? {} : { httpRequestId }) };

    let outcome: ReprocessTaskOutcome;
    try {
      outcome = await reprocessTask(deps.db, target, { requestId, actor, force, httpRequestId, thresholds });
    } catch (error) {
      const willRetry = job.attemptsMade + 1 < (job.opts.attempts ?? 1);
      deps.onOutcome?.(willRetry ? "retried" : "failed");
      deps.logger.warn({ ...line, ...context, outcome: willRetry ? "retrying" : "failed", err: error }, willRetry ? "reprocess attempt failed; will retry" : "reprocess failed; no attempts left");
      throw error;
    }
    if (outcome.kind === "notFound") return reject(outcome.message, context);
    if (outcome.kind === "conflict") {
      const decision = decideReprocess({ ...outcome, force: false }, `task ${outcome.taskId}`);
      return reject(decision.allowed ? `Conflict: the reprocess guard refused task ${outcome.taskId} (status ${outcome.status})` : decision.reason, { ...context, taskId: outcome.taskId, status: outcome.status });
    }

    const result: ReprocessResult = { taskId: outcome.taskId, restartCount: outcome.restartCount, status: outcome.status };
    deps.onOutcome?.(outcome.kind === "applied" ? "applied" : "already_applied");
    deps.logger.info(
      { ...line, ...context, outcome: outcome.kind, fromStatus: outcome.fromStatus, ...(outcome.forced ? { forced: true } : {}), ...result },
      outcome.kind === "applied" ? (outcome.forced ? "task reprocessed (forced)" : "task reprocessed") : "reprocess request already applied; returning its result",
    );
    return result;
  };
}

export function createReprocessWorker(deps: ReprocessWorkerDeps): DrainableWorker<ReprocessJobData, ReprocessResult> {
  return new JobDataWorker<ReprocessJobData, ReprocessResult>(REPROCESS_QUEUE, createReprocessProcessor(deps), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: deps.concurrency,
    settings: { backoffStrategy: reprocessBackoffStrategy },
    ...queueTelemetry(),
  });
}
