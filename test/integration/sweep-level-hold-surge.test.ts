// The level hold is a promise per sweep (docs/safety.md: "It will not, by itself, act on more tasks
// of one rule … than its hold limit allows in a sweep"). A sweep counts, judges, then acts batch by
// batch; an outage that starts while its batches run must not ride through on the judgement of a
// count taken before it. Staged, not hoped for: a transaction holding status_revert_counts in SHARE
// mode stops the sweep's first batch at its write of the revert history, after the count.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { holdTransaction, insertTasks, resetTables, testDb, waitForLockWaiter } from "../support/db.js";

const db = testDb();
const sweeper = testDb();
beforeEach(() => resetTables(db));
afterAll(async () => {
  await Promise.all([db.$disconnect(), sweeper.$disconnect()]);
});

const H = 3600;
const stuck = (n: number) => insertTasks(db, Array.from({ length: n }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H + i })));

describe("an outage that begins while a sweep's batches run (level hold 100, batches of 50)", () => {
  it("the sweep acts on no more than it counted and judged; the next sweep holds the rest", async () => {
    const rules = buildRules({ ProcessingInProgress: { hold: { maxTasks: 100, rate: false } } });
    await stuck(100);
    const history = await holdTransaction("LOCK TABLE status_revert_counts IN SHARE MODE");
    let sweep: ReturnType<typeof runSweep> | undefined;
    try {
      sweep = runSweep(sweeper, rules, { sweepId: "before-the-outage", dryRun: false, batchSize: 50 });
      // It counted 100 (not more than 100: not held); its first batch waits to write the history.
      await waitForLockWaiter(db, 10_000, 1);
      await stuck(1000);
    } finally {
      await history.release();
    }
    const result = await sweep!;

    expect(result.reverted).toBeLessThanOrEqual(100);
    expect(await db.$queryRaw`SELECT count(*)::int AS n FROM task_events WHERE kind = 'AUTO_REVERTED'`).toEqual([{ n: result.reverted }]);
    const next = await runSweep(db, rules, { sweepId: "next", dryRun: false, batchSize: 50 });
    expect(next.reverted).toBe(0);
    expect(next.held.ProcessingInProgress).toMatchObject({ limit: 100, atLeast: true });
  }, 60_000);
});
