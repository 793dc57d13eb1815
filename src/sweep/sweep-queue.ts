import { Queue, type ConnectionOptions } from "bullmq";
import { KEEP_COMPLETED, KEEP_FAILED, SWEEP_JOB, SWEEP_QUEUE, SWEEP_SCHEDULER_ID } from "../platform/queue-names.js";
import { queueTelemetry } from "../platform/queue-telemetry.js";

/** What a producer may send; the worker checks it strictly (src/sweep/sweep-request.ts). */
export interface SweepJobData {
  dryRun?: boolean;
  /** Status names or codes whose held probes act anyway, this once. Needs releasedBy. */
  release?: (string | number)[];
  releasedBy?: string;
}

export function createSweepQueue(connection: ConnectionOptions, prefix: string): Queue<SweepJobData> {
  return new Queue<SweepJobData>(SWEEP_QUEUE, { connection, prefix, ...queueTelemetry() });
}

/**
 * Registers (or updates) the repeating sweep. Idempotent across replicas and restarts: every
 * replica calls it at start and there is still one sweep per interval.
 */
export async function scheduleSweep(queue: Queue<SweepJobData>, everyMs: number): Promise<void> {
  await queue.upsertJobScheduler(
    SWEEP_SCHEDULER_ID,
    { every: everyMs },
    { name: SWEEP_JOB, data: {}, opts: { removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED } },
  );
}

export async function unscheduleSweep(queue: Queue<SweepJobData>): Promise<void> {
  await queue.removeJobScheduler(SWEEP_SCHEDULER_ID);
}

/** A manual sweep: an ordinary `sweep` job on the same queue. */
export async function enqueueSweep(queue: Pick<Queue<SweepJobData>, "add">, data: SweepJobData) {
  return queue.add(SWEEP_JOB, data, { attempts: 1, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED });
}
