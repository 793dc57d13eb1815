// Progress of a sweep on its BullMQ job, so Bull Board shows a recovery moving instead of a job
// that is simply "active": after each committed batch, the job's progress (per status: done so
// far, batches) and one short job log line. Both are sent together on the worker's connection
// (one round trip per batch, never per task). Reporting never fails the sweep: a Redis hiccup is
// logged once per sweep and the sweep goes on.
import type { Job } from "bullmq";
import type { Logger } from "pino";
import type { BatchOutcome } from "./sql/revert-stuck-tasks.js";
import { withTimeout } from "../platform/deadline.js";

/** What the job's progress holds; `byStatus` is keyed by status name. */
export interface SweepProgress {
  done: number;
  batches: number;
  byStatus: Record<string, { done: number; batches: number }>;
}

const VERBS: Record<string, string> = { revert: "reverted", moveToHistory: "moved to history", flag: "flagged" };

/** What a batch was of: a probe or a status plan, both name their status and action. */
interface BatchTarget {
  readonly statusName: string;
  readonly action: { readonly kind: string };
}

export function sweepProgress(job: Pick<Job, "id" | "updateProgress" | "log">, logger: Pick<Logger, "warn">) {
  const progress: SweepProgress = { done: 0, batches: 0, byStatus: {} };
  const inFlight = new Set<Promise<unknown>>();
  let warned = false;
  const report = (write: () => Promise<unknown>) => {
    let sent: Promise<unknown>;
    try {
      sent = write();
    } catch (error) {
      sent = Promise.reject(error);
    }
    const settled = sent.catch((error: unknown) => {
      if (warned) return;
      warned = true;
      logger.warn({ err: error, jobId: job.id }, "could not report sweep progress on the job; the sweep goes on");
    });
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
  };
  return {
    onBatch(target: BatchTarget, outcomes: readonly BatchOutcome[]): void {
      const count = outcomes.reduce((n, o) => n + o.count, 0);
      const status = (progress.byStatus[target.statusName] ??= { done: 0, batches: 0 });
      status.done += count;
      status.batches += 1;
      progress.done += count;
      progress.batches += 1;
      const snapshot = structuredClone(progress);
      const line = `${target.statusName}: batch ${status.batches}, ${count} ${VERBS[target.action.kind] ?? "done"} (${status.done} so far)`;
      // Each call inside its own promise: one that throws at once must not leave the other's rejection unhandled.
      report(() => Promise.all([Promise.resolve().then(() => job.updateProgress(snapshot)), Promise.resolve().then(() => job.log(line))]));
    },
    /** Waits (bounded) for the reports in flight, so the job's log is whole when it completes. */
    async flush(): Promise<void> {
      if (inFlight.size === 0) return;
      await withTimeout(2000, "sweep progress", Promise.all([...inFlight])).catch(() => undefined);
    },
  };
}
