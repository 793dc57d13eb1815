import { Queue, type BackoffStrategy, type ConnectionOptions, type Job } from "bullmq";
import { KEEP_COMPLETED, KEEP_FAILED, REPROCESS_JOB, REPROCESS_QUEUE } from "../platform/queue-names.js";
import { queueTelemetry } from "../platform/queue-telemetry.js";

/**
 * What a producer puts on `task-reprocess` (docs/reprocess.md, "Job data"; the contract: docs/contract.md, "Queues"). Either `taskId`, or
 * `externalId` together with `organizationId`. `organizationId` next to a `taskId` narrows the
 * request to that organization (a task of another organization is NotFound). `force` skips the
 * reprocess guard (audited). See reprocessJobDataSchema for the rules.
 */
export interface ReprocessJobData {
  taskId?: number;
  externalId?: string;
  organizationId?: number;
  requestedBy?: string;
  force?: boolean;
  httpRequestId?: string;
}

export interface ReprocessResult {
  taskId: number;
  restartCount: number;
  status: number;
}

/**
 * Database or Redis faults are retried, so an accepted request (HTTP 202) survives an outage of
 * more than an hour: the delay doubles from 1 s and is capped at 5 min (1, 2, 4 … 256 s, then
 * 300 s), over 24 attempts — 23 waits, 78.5 min in all (test/unit/reprocess-backoff.test.ts).
 * BullMQ's own "exponential" has no cap (its 23rd wait would be 48 days), hence a strategy of our
 * own, registered on the worker (settings.backoffStrategy). Bad input, unknown tasks and guard
 * refusals are never retried: the worker fails them with BullMQ's UnrecoverableError.
 */
export const REPROCESS_ATTEMPTS = 24;
export const REPROCESS_FIRST_RETRY_DELAY_MS = 1000;
export const REPROCESS_MAX_RETRY_DELAY_MS = 5 * 60_000;
export const REPROCESS_BACKOFF = { type: "reprocess-capped-exponential", delay: REPROCESS_FIRST_RETRY_DELAY_MS } as const;

/** The wait after the `attemptsMade`-th failed attempt (1-based), in ms. */
export function reprocessRetryDelayMs(attemptsMade: number): number {
  return Math.min(REPROCESS_MAX_RETRY_DELAY_MS, REPROCESS_FIRST_RETRY_DELAY_MS * 2 ** Math.max(0, attemptsMade - 1));
}

/** Every reprocess job's options (producers adding jobs in bulk use the same). */
export const REPROCESS_JOB_OPTIONS = { attempts: REPROCESS_ATTEMPTS, backoff: REPROCESS_BACKOFF, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED } as const;

export const reprocessBackoffStrategy: BackoffStrategy = (attemptsMade) => reprocessRetryDelayMs(attemptsMade);

/**
 * The deduplication id of "reprocess task N": one per task and kind of request while one is waiting
 * or running. A forced request has its own: folded into a waiting unforced one it would lose its
 * force (that job's data is kept), and the guard would refuse what the operator forced.
 */
export const reprocessDedupeId = (taskId: number, force = false) => `reprocess-task-${taskId}${force ? "-forced" : ""}`;

export function createReprocessQueue(connection: ConnectionOptions, prefix: string): Queue<ReprocessJobData, ReprocessResult> {
  return new Queue<ReprocessJobData, ReprocessResult>(REPROCESS_QUEUE, { connection, prefix, ...queueTelemetry() });
}

/**
 * Adds one `reprocess` job. With `dedupeTaskId` (the caller already resolved the task), a second
 * request of the same kind (forced or not) for the same task while the first is still waiting,
 * delayed (backing off) or active collapses into the first: BullMQ's simple-mode deduplication keeps the key until that job
 * completes or fails. The job returned is then the first one (its id, data and timestamp).
 */
export async function enqueueReprocess(queue: Queue<ReprocessJobData>, data: ReprocessJobData, options: { dedupeTaskId?: number } = {}): Promise<Job> {
  const added = await queue.add(REPROCESS_JOB, data, {
    ...REPROCESS_JOB_OPTIONS,
    ...(options.dedupeTaskId === undefined ? {} : { deduplication: { id: reprocessDedupeId(options.dedupeTaskId, data.force === true) } }),
  });
  if (options.dedupeTaskId === undefined) return added;
  // When deduplicated, `added` carries the first job's id but this call's data: read the stored job.
  return (await queue.getJob(added.id!)) ?? added;
}
