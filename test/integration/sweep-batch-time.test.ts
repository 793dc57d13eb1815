// The sweep's batches follow their time, not only their count (src/sweep/batch-size.ts): no batch
// holds its rows' locks past SWEEP_BATCH_TIME_BUDGET (one that would is cancelled and retried
// smaller; only a batch of the smallest size may run past it), and a batch that statement_timeout
// cancels is retried smaller instead of failing the status. A batch is made slow
// the way a loaded database makes it slow: here a trigger that costs each updated row a
// few milliseconds (pg_sleep), on the test database; time is not moved by sleeping in the test.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDb } from "../../src/platform/db/client.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { adaptiveBatchSize, FIRST_BATCH_SIZE, MIN_BATCH_SIZE } from "../../src/sweep/batch-size.js";
import { runSweep, type SweepOptions } from "../../src/sweep/run-sweep.js";
import { createRedis } from "../../src/platform/redis.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { metricValue, testMetrics } from "../support/metrics.js";
import { directDatabaseUrl, insertTasks, resetTables, testDb } from "../support/db.js";
import { captureLogger } from "../support/reprocess-harness.js";

const db = testDb();
// The hold is off: 1,200 stuck at once is what this file needs, not an outage to hold.
const rules = buildRules({ ProcessingInProgress: { hold: false } });
const STUCK = 1200;
const OVER_THRESHOLD = 5 * 3600;

beforeEach(async () => {
  await resetTables(db);
  await insertTasks(db, Array.from({ length: STUCK }, () => ({ status: S.ProcessingInProgress, ageSeconds: OVER_THRESHOLD })));
});

/** Every updated task row costs `ms` milliseconds, as on a loaded database. */
async function slowRows(ms: number): Promise<void> {
  await db.$executeRawUnsafe(`CREATE OR REPLACE FUNCTION test_slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${ms / 1000}); RETURN NEW; END $$`);
  await db.$executeRawUnsafe(`CREATE TRIGGER slow_row BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION test_slow_row()`);
}
afterEach(() => db.$executeRawUnsafe(`DROP TRIGGER IF EXISTS slow_row ON tasks`));
afterAll(() => db.$disconnect());

/**
 * A fresh registry's sweep metrics, wired to a sweep as the worker wires them, and
 * watchdog_sweep_batches_cancelled_total{status="ProcessingInProgress"} read from it.
 */
async function withMetrics<T>(use: (hooks: { onBatchCancelled: SweepOptions["onBatchCancelled"] }, cancelled: () => Promise<number | undefined>) => Promise<T>): Promise<T> {
  const redis = createRedis(testRedisUrl());
  const prefix = uniquePrefix();
  try {
    const metrics = testMetrics({ db, rules, redis, prefix });
    return await use({ onBatchCancelled: metrics.onBatchCancelled }, () => metricValue(metrics.registry, "watchdog_sweep_batches_cancelled_total", { status: "ProcessingInProgress" }));
  } finally {
    await deletePrefix(prefix);
    redis.disconnect();
  }
}

/** The size of each committed batch, in order. */
function batchSizes() {
  const sizes: number[] = [];
  return { sizes, onBatch: (_: unknown, outcomes: readonly { count: number }[]) => void sizes.push(outcomes.reduce((n, o) => n + o.count, 0)) };
}

describe("when batches run past the time budget", () => {
  it("then no batch holds its locks past it: one that would is cancelled at the budget, nothing of it applied, and retried at a quarter of its size", async () => {
    await slowRows(3);
    const { sizes, onBatch } = batchSizes();
    const { logger, lines } = captureLogger();
    // 3 ms a row: the first batch (100) would hold its locks ~300 ms, three times a 100 ms budget.
    const { result, counted } = await withMetrics(async (hooks, cancelledMetric) => {
      const result = await runSweep(db, rules, { sweepId: "batch-time", dryRun: false, batchSize: 1000, batchSizing: adaptiveBatchSize(1000, 100), onBatch, logger, ...hooks });
      return { result, counted: await cancelledMetric() };
    });
    expect(result).toMatchObject({ reverted: STUCK, failed: {} });
    // It never committed: cancelled at 100 ms, and the batches that did commit (25: ~75 ms) fit the budget.
    expect(sizes).not.toContain(FIRST_BATCH_SIZE);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(FIRST_BATCH_SIZE / 4);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(STUCK);
    const cancelled = lines.filter((line) => typeof line.msg === "string" && line.msg.includes("cancelled, nothing of it applied"));
    expect(cancelled[0]).toMatchObject({ level: 30, status: "ProcessingInProgress", batchSize: FIRST_BATCH_SIZE, retryWith: 25, capMs: 90 });
    // Counted in the result, and in watchdog_sweep_batches_cancelled_total.
    expect(result.cancelledBatches.ProcessingInProgress).toBe(cancelled.length);
    expect(counted).toBe(cancelled.length);
    // Nothing of the cancelled batch applied: one event per task, no more.
    const [events] = await db.$queryRaw<{ n: bigint; tasks: bigint }[]>`SELECT count(*) AS n, count(DISTINCT task_id) AS tasks FROM task_events WHERE sweep_id = 'batch-time'`;
    expect(events).toEqual({ n: BigInt(STUCK), tasks: BigInt(STUCK) });
  });

  it("once shutdown has begun, a cancelled batch is not retried: the sweep ends interrupted, nothing applied", async () => {
    await slowRows(3);
    // Shutdown begins once the sweep has started the status (the first ask, before it, says no).
    let asked = 0;
    const result = await runSweep(db, rules, { sweepId: "batch-stop", dryRun: false, batchSize: 1000, batchSizing: adaptiveBatchSize(1000, 100), shouldStop: () => asked++ > 0 });
    expect(result).toMatchObject({ interrupted: true, reverted: 0, cancelledBatches: { ProcessingInProgress: 1 }, failed: {} });
    const [changed] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tasks WHERE status <> ${S.ProcessingInProgress}`;
    expect(Number(changed!.n)).toBe(0);
  });

  it("a cancelled batch is counted in watchdog_sweep_batches_cancelled_total when it is cancelled: a sweep that fails afterwards keeps the count", async () => {
    await slowRows(3);
    // The first batch (100, ~300 ms) is cancelled at its cap; then the sweep fails (as when its
    // database is lost) after the first committed batch, so it reports no result at all.
    const failure = new Error("the sweep's database went away");
    const { logger, lines } = captureLogger();
    const counted = await withMetrics(async (hooks, cancelledMetric) => {
      const sweep = runSweep(db, rules, {
        sweepId: "batch-then-fail",
        dryRun: false,
        batchSize: 1000,
        batchSizing: adaptiveBatchSize(1000, 100),
        logger,
        onBatch: () => {
          throw failure;
        },
        ...hooks,
      });
      await expect(sweep).rejects.toBe(failure);
      return cancelledMetric();
    });
    // Each cancel logged is counted (one or more: a retry of 25 may also run past its cap on a busy machine).
    const cancelled = lines.filter((line) => typeof line.msg === "string" && line.msg.includes("cancelled, nothing of it applied"));
    expect(cancelled.length).toBeGreaterThanOrEqual(1);
    expect(counted).toBe(cancelled.length);
  });

  it("a batch of the smallest size is never cut short: however slow the database, the sweep moves on", async () => {
    // 30 stuck, 15 ms a row: 100 and 25 are cancelled at the budget; 10 (~150 ms) runs past it, uncapped.
    await db.$executeRaw`UPDATE tasks SET status = ${S.ToReview} WHERE id NOT IN (SELECT id FROM tasks ORDER BY id LIMIT 30)`;
    await slowRows(15);
    const { sizes, onBatch } = batchSizes();
    const result = await runSweep(db, rules, { sweepId: "batch-min", dryRun: false, batchSize: 1000, batchSizing: adaptiveBatchSize(1000, 100), onBatch });
    expect(result).toMatchObject({ reverted: 30, failed: {} });
    expect(sizes).toEqual([MIN_BATCH_SIZE, MIN_BATCH_SIZE, MIN_BATCH_SIZE]);
  });

  it("without a time budget (a fixed size), the batches stay at SWEEP_BATCH_SIZE", async () => {
    await slowRows(1);
    const { sizes, onBatch } = batchSizes();
    const result = await runSweep(db, rules, { sweepId: "batch-fixed", dryRun: false, batchSize: 1000, onBatch });
    expect(result.reverted).toBe(STUCK);
    expect(sizes).toEqual([1000, 200]);
  });
});

/**
 * A client whose statements time out after 400 ms. The timeout travels as a start-up option, which
 * PgBouncer drops (behind it the role carries the timeouts: configuration.md), so with
 * TEST_DATABASE_VIA=pgbouncer this client connects directly: what is tested is the sweep's answer
 * to a cancelled batch, the same whichever way the cancel came.
 */
const tightDb = () => createDb(directDatabaseUrl(), { max: 2, statementTimeoutMs: 400 });

describe("when statement_timeout cancels a batch", () => {
  it("then it is retried smaller, nothing of the cancelled batch applied, and the status is not failed", async () => {
    // 8 ms a row and 400 ms of statement_timeout: the first batch (100, ~800 ms) is cancelled, one of 25 (~200 ms) fits.
    await slowRows(8);
    const tight = tightDb();
    try {
      const { sizes, onBatch } = batchSizes();
      // A budget (1 s) looser than the statement timeout: the cap is the statement timeout, never looser.
      const result = await runSweep(tight, rules, { sweepId: "batch-timeout", dryRun: false, batchSize: 1000, batchSizing: adaptiveBatchSize(1000, 1000), onBatch });
      expect(result).toMatchObject({ reverted: STUCK, failed: {} });
      // The first that committed is the retry at a quarter; none that committed ran past 400 ms (50 rows).
      expect(sizes[0]).toBe(25);
      expect(Math.max(...sizes)).toBeLessThan(400 / 8);
      const [events] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM task_events WHERE sweep_id = 'batch-timeout'`;
      expect(Number(events!.n)).toBe(STUCK);
    } finally {
      await tight.$disconnect();
    }
  });

  it("with a fixed size, the cancelled batch fails the sweep as before (nothing half applied)", async () => {
    await slowRows(1);
    const tight = tightDb();
    try {
      await expect(runSweep(tight, rules, { sweepId: "batch-timeout-fixed", dryRun: false, batchSize: 1000 })).rejects.toThrow(/statement timeout|canceling statement/);
      const [changed] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tasks WHERE status <> ${S.ProcessingInProgress}`;
      expect(Number(changed!.n)).toBe(0);
    } finally {
      await tight.$disconnect();
    }
  });
});
