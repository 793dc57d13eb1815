// Neighbour cost: the watchdog must not slow the platform it guards. The platform's own write —
// one task's status, by id, one statement on a connection of its own — timed while idle and while
// runSweep recovers 100,000 stuck tasks on the same table; and the longest time one batch holds
// its row locks. A batch is one statement (autocommit): its locks are taken inside it and released
// at its commit, so the wall time of each batch statement bounds how long any row stays locked.
import type pg from "pg";
import type { Db } from "../../src/platform/db/client.js";
import type { Rule } from "../../src/rules/rules.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { stage } from "../incident.js";
import { sample, type Sample } from "../measure.js";
import { adaptiveBatchSize } from "../../src/sweep/batch-size.js";
import { SETTINGS } from "../../src/platform/config/settings.js";

const BATCH_TIME_BUDGET_MS = Number(SETTINGS.sweepBatchTimeBudgetMs.default);

const PLATFORM_ROWS = 2_000;
// Between two stable statuses (ToReview 50 ↔ PreProcessingDownloadFailed 33): a real status change, trigger and
// both indexes included, on rows no rule sweeps.
const PLATFORM_UPDATE = `UPDATE tasks SET status = CASE WHEN status = 50 THEN 33 ELSE 50 END WHERE id = $1`;

export interface NeighbourFigures {
  idle: { p50: Sample; p99: Sample };
  recovery: { p50: Sample; p99: Sample };
  /** The longest batch statement of the recoveries, in ms. */
  longestBatchMs: number;
  updatesDuringRecovery: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function measureNeighbour(db: Db, pool: pg.Pool, rules: readonly Rule[], ids: { from: number; to: number }, options: { reps: number; batchSize: number }): Promise<NeighbourFigures> {
  const { rows } = await pool.query<{ id: number }>(`SELECT id FROM tasks WHERE location = 'INBOX' AND status = 50 AND id < $1 ORDER BY id LIMIT $2`, [ids.from, PLATFORM_ROWS]);
  const targets = rows.map((r) => r.id);
  const platform = await pool.connect();
  const runs = { idle: { p50: [] as number[], p99: [] as number[] }, recovery: { p50: [] as number[], p99: [] as number[] } };
  let longestBatchMs = 0;
  let updatesDuringRecovery = 0;
  try {
    const oneUpdate = async (i: number) => {
      const started = performance.now();
      await platform.query(PLATFORM_UPDATE, [targets[i % targets.length]]);
      return performance.now() - started;
    };
    const summarise = (side: "idle" | "recovery", latencies: number[]) => {
      const sorted = [...latencies].sort((a, b) => a - b);
      runs[side].p50.push(percentile(sorted, 50));
      runs[side].p99.push(percentile(sorted, 99));
    };
    for (let i = 0; i < 200; i++) await oneUpdate(i); // warm
    for (let r = 0; r < options.reps; r++) {
      const idle: number[] = [];
      for (let i = 0; i < PLATFORM_ROWS; i++) idle.push(await oneUpdate(i));
      summarise("idle", idle);

      await stage(pool, "processingInProgress", ids.from, ids.to);
      let last = performance.now();
      let first = true;
      const sweep = runSweep(db, rules, {
        sweepId: `bench-neighbour-${r}`,
        dryRun: false,
        batchSize: options.batchSize,
        // As the worker runs it: batches sized by time (SWEEP_BATCH_TIME_BUDGET_MS' default), from a fresh start.
        batchSizing: adaptiveBatchSize(options.batchSize, BATCH_TIME_BUDGET_MS),
        onBatch: () => {
          const now = performance.now();
          // The first interval also holds the quiet check and the hold's count: not a batch.
          if (!first) longestBatchMs = Math.max(longestBatchMs, now - last);
          first = false;
          last = now;
        },
      });
      let done = false;
      const finished = sweep.finally(() => (done = true));
      const during: number[] = [];
      for (let i = 0; !done; i++) during.push(await oneUpdate(i));
      const result = await finished;
      if (result.reverted !== ids.to - ids.from + 1) throw new Error(`the neighbour run reverted ${result.reverted} tasks`);
      updatesDuringRecovery += during.length;
      summarise("recovery", during);
    }
  } finally {
    await platform.query(`UPDATE tasks SET status = 50 WHERE id = ANY($1::int[]) AND status = 33`, [targets]).catch(() => undefined);
    platform.release();
  }
  return {
    idle: { p50: sample(runs.idle.p50), p99: sample(runs.idle.p99) },
    recovery: { p50: sample(runs.recovery.p50), p99: sample(runs.recovery.p99) },
    longestBatchMs,
    updatesDuringRecovery: Math.round(updatesDuringRecovery / options.reps),
  };
}
