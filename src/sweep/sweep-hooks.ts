// What the sweep worker reports after each batch and sweep: metrics, and the shared "last
// completed sweep" time behind watchdog_sweep_overdue and /health/sweeps. Hooks never throw.
import type { RedisConnection as Redis } from "../platform/redis.js";
import type { Logger } from "pino";
import type { SweepWorkerDeps } from "./sweep-worker.js";
import type { SweepResult } from "./run-sweep.js";
import { recordSweepCompleted } from "./last-sweep.js";
import type { Metrics } from "../ops/metrics.js";

export function sweepHooks(deps: { metrics: Metrics; redis: Redis; prefix: string; logger: Logger }): Required<Pick<SweepWorkerDeps, "onBatch" | "onBatchCancelled" | "onStatusFailed" | "onSweep">> & { onFailed(dryRun: boolean): void } {
  return {
    onBatch: (plan, outcomes) => deps.metrics.onBatch(plan, outcomes),
    onBatchCancelled: (plan) => deps.metrics.onBatchCancelled(plan),
    onStatusFailed: (plan) => deps.metrics.onStatusFailed(plan),
    onSweep: (result: SweepResult) => {
      deps.metrics.onSweep(result);
      // A dry run changes nothing and an interrupted sweep left work behind: neither proves sweeping works.
      if (result.dryRun || result.interrupted) return;
      recordSweepCompleted(deps.redis, deps.prefix, result.held, result.durationMs).catch((error: unknown) =>
        deps.logger.warn({ err: error, sweepId: result.sweepId }, "could not record the completed sweep in Redis; /health/sweeps may turn red"),
      );
    },
    onFailed: (dryRun) => deps.metrics.onSweepFailed(dryRun),
  };
}
