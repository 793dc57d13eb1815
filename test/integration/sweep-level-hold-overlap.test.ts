// Two replicas' sweeps overlap (a slow sweep and the next, a manual one): each counts, judges, then
// acts batch by batch. Each sweep keeps the level hold's promise on its own — it acts on no more
// than it counted — but when an outage begins after both counted, the two together must not act on
// more than was stuck when they looked: what got stuck since waits for the next sweep, which holds it.
// Staged, not hoped for: a transaction holding status_revert_counts in SHARE mode stops each sweep's
// first batch at its write of the revert history, after both counts. The outage's tasks get stuck
// after both counts by the database clock (their status changed exactly a threshold before they are
// written), as tasks an outage strands do: time passes, nothing is backdated.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { holdTransaction, insertTasks, resetTables, testDb, waitForLockWaiter } from "../support/db.js";

const db = testDb();
const first = testDb();
const second = testDb();
beforeEach(() => resetTables(db));
afterAll(async () => {
  await Promise.all([db.$disconnect(), first.$disconnect(), second.$disconnect()]);
});

const H = 3600;
const THRESHOLD = 4 * H;
const stuckFor = (n: number, ageSeconds: (i: number) => number) =>
  insertTasks(db, Array.from({ length: n }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: ageSeconds(i) })));
const reverted = async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events WHERE kind = 'AUTO_REVERTED'`)[0]!.n;

describe("two sweeps that overlap, an outage beginning after both counted (level hold 100, batches of 10)", () => {
  it("together they act on no more than was stuck when they counted; the next sweep holds the rest", async () => {
    const rules = buildRules({ ProcessingInProgress: { stuckAfter: "PT4H", hold: { maxTasks: 100, rate: false } } });
    await stuckFor(60, (i) => 5 * H + i);
    const history = await holdTransaction("LOCK TABLE status_revert_counts IN SHARE MODE");
    let sweeps: Promise<Awaited<ReturnType<typeof runSweep>>[]> | undefined;
    try {
      sweeps = Promise.all([
        runSweep(first, rules, { sweepId: "first", dryRun: false, batchSize: 10 }),
        runSweep(second, rules, { sweepId: "second", dryRun: false, batchSize: 10 }),
      ]);
      // Both counted 60 (not more than 100: not held); each one's first batch waits to write the history.
      await waitForLockWaiter(db, 10_000, 2);
      await stuckFor(1000, () => THRESHOLD);
    } finally {
      await history.release();
    }
    const [a, b] = await sweeps!;

    expect(a!.held).toEqual({});
    expect(b!.held).toEqual({});
    expect(a!.reverted + b!.reverted).toBe(60);
    expect(await reverted()).toBe(60);
    const next = await runSweep(db, rules, { sweepId: "next", dryRun: false, batchSize: 10 });
    expect(next.reverted).toBe(0);
    expect(next.held.ProcessingInProgress).toMatchObject({ limit: 100, atLeast: true });
  }, 60_000);
});
