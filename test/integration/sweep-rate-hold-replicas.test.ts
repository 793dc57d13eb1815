// The rate hold counted by two replicas at once (docs/safety.md, "Rate hold": "the reverts of any
// window never pass the limit"). Two sweeps — two replicas, each with its own pool — decide from the
// same history before either has reverted anything; meanwhile the platform fails more tasks. Their
// batches then run: together they must not bring the window past the limit. The interleaving is
// staged, not hoped for: a transaction holding status_revert_counts in SHARE mode lets both sweeps
// count and decide (plain reads) and stops each batch at its write of the revert history.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { holdTransaction, insertTasks, resetTables, testDb, waitForLockWaiter } from "../support/db.js";

const db = testDb();
const replicaA = testDb();
const replicaB = testDb();
beforeEach(() => resetTables(db));
afterAll(async () => {
  await Promise.all([db.$disconnect(), replicaA.$disconnect(), replicaB.$disconnect()]);
});

const H = 3600;
const stuck = (n: number) => insertTasks(db, Array.from({ length: n }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H + i })));
const inWindow = async () =>
  (await db.$queryRaw<{ n: number }[]>`SELECT coalesce(sum(reverts), 0)::int AS n FROM status_revert_counts WHERE status = ${S.ProcessingInProgress}::smallint AND minute > now() - interval '1 hour'`)[0]!.n;

describe("two replicas' sweeps under one rate limit (default: 1,000 reverts of a status per PT1H)", () => {
  it("never bring the window past the limit together, also when tasks got stuck after they decided", async () => {
    // 900 reverted in the last hour; 100 stuck now: 900 + 100 = 1,000, within the limit.
    await db.$executeRaw`INSERT INTO status_revert_counts (status, minute, reverts) VALUES (${S.ProcessingInProgress}::smallint, date_trunc('minute', now()) - interval '5 minutes', 900)`;
    await stuck(100);
    const rules = buildRules();

    const history = await holdTransaction("LOCK TABLE status_revert_counts IN SHARE MODE");
    let sweeps: Promise<Awaited<ReturnType<typeof runSweep>>[]> | undefined;
    try {
      sweeps = Promise.all([
        runSweep(replicaA, rules, { sweepId: "replica-a", dryRun: false, batchSize: 50 }),
        runSweep(replicaB, rules, { sweepId: "replica-b", dryRun: false, batchSize: 50 }),
      ]);
      // Both replicas have counted and decided; neither batch has committed.
      await waitForLockWaiter(db, 10_000, 2);
      // The slow burn goes on: 100 more fail while the sweeps run.
      await stuck(100);
    } finally {
      await history.release();
    }
    const results = await sweeps!;

    expect(await inWindow()).toBeLessThanOrEqual(1000);
    const reverted = results.reduce((n, r) => n + r.reverted, 0);
    expect(reverted).toBe(100);
    expect(await db.$queryRaw`SELECT count(*)::int AS n FROM task_events WHERE kind = 'AUTO_REVERTED'`).toEqual([{ n: 100 }]);
    // What was left is reported held by the rate hold, as a sweep that found the window full would.
    expect(results.some((r) => r.held.ProcessingInProgress?.rate !== undefined)).toBe(true);
  }, 60_000);

  it("one sweep alone does not pass it either with tasks that got stuck after its count: they are the next sweep's, which holds them", async () => {
    await db.$executeRaw`INSERT INTO status_revert_counts (status, minute, reverts) VALUES (${S.ProcessingInProgress}::smallint, date_trunc('minute', now()) - interval '5 minutes', 900)`;
    await stuck(100);
    const history = await holdTransaction("LOCK TABLE status_revert_counts IN SHARE MODE");
    let sweep: ReturnType<typeof runSweep> | undefined;
    try {
      sweep = runSweep(replicaA, buildRules(), { sweepId: "alone", dryRun: false, batchSize: 50 });
      // It has counted 100 and decided; its first batch waits to write the history.
      await waitForLockWaiter(db, 10_000, 1);
      await stuck(100);
    } finally {
      await history.release();
    }
    const result = await sweep!;

    expect(await inWindow()).toBeLessThanOrEqual(1000);
    expect(result.reverted).toBe(100);
    const next = await runSweep(replicaA, buildRules(), { sweepId: "next", dryRun: false, batchSize: 50 });
    expect(next.reverted).toBe(0);
    expect(next.held.ProcessingInProgress?.rate).toMatchObject({ reverts: 1000, wouldRevert: 100, limit: 1000 });
  }, 60_000);
});
