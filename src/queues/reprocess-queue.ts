import { Queue, type ConnectionOptions, type Job } from "bullmq";
import { KEEP_COMPLETED, KEEP_FAILED, REPROCESS_JOB, REPROCESS_QUEUE } from "./names.js";

/**
 * What a producer puts on `task-reprocess` (docs/contract.md, "Queues"). Either `taskId`, or `externalId` together
 * with `organizationId`. `organizationId` next to a `taskId` narrows the request to that
 * organization (a task of another organization is NotFound). See parseReprocessRequest for the rules.
 */
export interface ReprocessJobData {
  taskId?: number;
  externalId?: string;
  organizationId?: number;
  requestedBy?: string;
}

export interface ReprocessResult {
  taskId: number;
  restartCount: number;
  status: number;
}

/**
 * Database or Redis faults are retried: 8 attempts, exponential backoff from 1 s
 * (1 + 2 + 4 + … + 64 s ≈ 2 min of outage survived). Bad input is never retried: the worker
 * fails it with BullMQ's UnrecoverableError.
 */
export const REPROCESS_ATTEMPTS = 8;
export const REPROCESS_BACKOFF = { type: "exponential", delay: 1000 } as const;

/** The deduplication id of "reprocess task N": one per task while a request is waiting or running. */
export const reprocessDedupeId = (taskId: number) => `reprocess-task-${taskId}`;

export function createReprocessQueue(connection: ConnectionOptions, prefix: string): Queue<ReprocessJobData, ReprocessResult> {
  return new Queue<ReprocessJobData, ReprocessResult>(REPROCESS_QUEUE, { connection, prefix });
}

/**
 * Adds one `reprocess` job. With `dedupeTaskId` (the caller already resolved the task), a second
 * request for the same task while the first is still waiting, delayed (backing off) or active
 * collapses into the first: BullMQ's simple-mode deduplication keeps the key until that job
 * completes or fails. The job returned is then the first one (its id, data and timestamp).
 */
export async function enqueueReprocess(queue: Queue<ReprocessJobData>, data: ReprocessJobData, options: { dedupeTaskId?: number } = {}): Promise<Job> {
  const added = await queue.add(REPROCESS_JOB, data, {
    attempts: REPROCESS_ATTEMPTS,
    backoff: REPROCESS_BACKOFF,
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
    ...(options.dedupeTaskId === undefined ? {} : { deduplication: { id: reprocessDedupeId(options.dedupeTaskId) } }),
  });
  if (options.dedupeTaskId === undefined) return added;
  // When deduplicated, `added` carries the first job's id but this call's data: read the stored job.
  return (await queue.getJob(added.id!)) ?? added;
}
