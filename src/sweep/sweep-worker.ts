import type { BatchSizing } from "./batch-size.js";
import { randomUUID } from "node:crypto";
import { DelayedError, UnrecoverableError, type ConnectionOptions, type Job } from "bullmq";
import type { DrainableWorker } from "../platform/drain-worker.js";
import type { Logger } from "pino";
import type { Db } from "../platform/db/client.js";
import type { Rule } from "../rules/rules.js";
import { noticePauses } from "./sql/notice-pauses.js";
import { describePause, pauseRule, pauseScope } from "./pause.js";
import { parseSweepJobData } from "./sweep-request.js";
import { statusName } from "../rules/status.js";
import { runSweep, type SweepResult, type SweepOptions } from "./run-sweep.js";
import { SWEEP_JOB, SWEEP_QUEUE } from "../platform/queue-names.js";
import type { SweepJobData } from "./sweep-queue.js";
import { queueTelemetry } from "../platform/queue-telemetry.js";
import { JobDataWorker, unparsableJobDataMessage, unknownJobNameMessage } from "../platform/job-data-worker.js";
import { sweepProgress } from "./sweep-progress.js";

/** The job's result: the sweep's, and who paused it and why when it ran paused. */
export type SweepJobResult = SweepResult & { pauses?: ReturnType<typeof describePause>[] };

export interface SweepWorkerDeps {
  db: Db;
  rules: readonly Rule[];
  batchSize: number;
  /** The adaptive batch size, kept across sweeps (src/sweep/batch-size.ts). */
  batchSizing?: BatchSizing;
  /** ESCALATE_AFTER_REVERTS. */
  escalateAfter?: number;
  logger: Logger;
  connection: ConnectionOptions;
  prefix: string;
  /** True once shutdown began: the sweep in flight stops after its current batch. */
  stopping: () => boolean;
  onBatch?: SweepOptions["onBatch"];
  onBatchCancelled?: SweepOptions["onBatchCancelled"];
  onStatusFailed?: SweepOptions["onStatusFailed"];
  onSweep?: (result: SweepResult) => void;
  /**
   * Told when a sweep starts and ends in this process (the outbox gives way meanwhile). Counted around
   * the processor itself, not by the worker's events: a job whose completion cannot be recorded
   * (Redis away longer than its lock) emits neither "completed" nor "failed", and would count for ever.
   */
  activity?: { begin(): void; end(): void };
}

export function createSweepWorker(deps: SweepWorkerDeps): DrainableWorker<SweepJobData, SweepJobResult> {
  const processor = async (job: Job<SweepJobData, SweepJobResult>, token?: string): Promise<SweepJobResult> => {
    // Taken in the moment shutdown began: put it back at once for another replica (or this one,
    // restarted) instead of starting a sweep that would stop at once and count as done.
    if (deps.stopping()) {
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    if (job.name !== SWEEP_JOB) throw new UnrecoverableError(unknownJobNameMessage(job.name, SWEEP_QUEUE, SWEEP_JOB));
    const unparsable = unparsableJobDataMessage(job.data, '{} or {"dryRun": true}');
    const parsed = unparsable === null ? parseSweepJobData(job.data, deps.rules) : ({ ok: false, error: unparsable } as const);
    if (!parsed.ok) {
      deps.logger.warn({ jobId: job.id, reason: parsed.error }, "sweep job rejected");
      throw new UnrecoverableError(parsed.error);
    }
    const { dryRun, release } = parsed.request;
    const sweepId = randomUUID();

    // The pause state, read fresh by every sweep on every replica (one query on a small index).
    const pauses = await noticePauses(deps.db);
    for (const p of pauses.expired) deps.logger.info({ sweepId, pause: describePause(p) }, `pause of ${pauseRule(p.status)} expired; the sweep acts on it again`);
    const pause = pauseScope(pauses.open);
    const paused = pauses.open.map(describePause);
    if (pause) {
      deps.logger.warn(
        { jobId: job.id, sweepId, paused },
        `sweep paused (${paused.map((p) => p.rule).join(", ")}): reporting what it would do, acting on none of it; \`watchdog resume --by <name>\` lifts it`,
      );
    }
    if (release) deps.logger.info({ jobId: job.id, sweepId, release: [...release.statuses].map(statusName), releasedBy: release.by }, "sweep releases held statuses for this sweep");

    const progress = sweepProgress(job, deps.logger);
    let result: SweepResult;
    try {
      result = await runSweep(deps.db, deps.rules, {
        sweepId,
        dryRun,
        batchSize: deps.batchSize,
        ...(deps.batchSizing ? { batchSizing: deps.batchSizing } : {}),
        escalateAfter: deps.escalateAfter,
        logger: deps.logger,
        shouldStop: deps.stopping,
        ...(pause ? { pause } : {}),
        ...(release ? { release } : {}),
        onBatch: (target, outcomes) => {
          deps.onBatch?.(target, outcomes);
          progress.onBatch(target, outcomes);
        },
        ...(deps.onBatchCancelled ? { onBatchCancelled: deps.onBatchCancelled } : {}),
        ...(deps.onStatusFailed ? { onStatusFailed: deps.onStatusFailed } : {}),
      });
    } finally {
      await progress.flush();
    }
    const done: SweepJobResult = pause ? { ...result, pauses: paused } : result;
    deps.logger.info({ jobId: job.id, scheduled: job.repeatJobKey !== undefined, ...done }, dryRun ? "dry-run sweep finished" : "sweep finished");
    deps.onSweep?.(result);
    return done;
  };
  const counted = async (job: Job<SweepJobData, SweepJobResult>, token?: string): Promise<SweepJobResult> => {
    deps.activity?.begin();
    try {
      return await processor(job, token);
    } finally {
      deps.activity?.end();
    }
  };
  // One sweep at a time per replica; replicas may overlap safely (rows are claimed with SKIP LOCKED).
  return new JobDataWorker<SweepJobData, SweepJobResult>(SWEEP_QUEUE, counted, { connection: deps.connection, prefix: deps.prefix, concurrency: 1, ...queueTelemetry() });
}
