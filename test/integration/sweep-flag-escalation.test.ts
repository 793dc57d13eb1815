// Report-only rules flag each stuck episode once, however many sweeps see it; the Nth automatic
// revert of a task is escalated; move-to-history skips a row another writer holds.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildRules, type Rule } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { reprocessTask } from "../../src/reprocess/sql/reprocess-task.js";
import { thresholdRows } from "../../src/rules/resolve.js";
import { runSweep, type SweepOptions } from "../../src/sweep/run-sweep.js";
import { getTask, holdTransaction, insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { testMetrics } from "../support/metrics.js";
import { createRedis, type RedisConnection } from "../../src/platform/redis.js";

const db = testDb();
const H = 3600;

const prefix = uniquePrefix();
let redis: RedisConnection | undefined;
beforeAll(() => {
  redis = createRedis(testRedisUrl());
});
beforeEach(() => resetTables(db));
afterAll(async () => {
  await deletePrefix(prefix);
  redis?.disconnect();
  await db.$disconnect();
});

const sweep = (rules: readonly Rule[], extra: Partial<SweepOptions> = {}) => runSweep(db, rules, { sweepId: `s-${Math.random()}`, dryRun: false, batchSize: 1000, ...extra });

const events = (taskId: number) =>
  db.$queryRaw<{ kind: string; reason: string; details: Record<string, unknown> | null }[]>`SELECT kind::text, reason, details FROM task_events WHERE task_id = ${taskId} ORDER BY id`;

describe("a report-only rule (action flag)", () => {
  const rules = buildRules({ ProcessingInProgress: { action: "flag" } });

  it("warns and writes one FLAGGED event per stuck episode across many sweeps, and never changes the status", async () => {
    const [stuck, young] = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * H },
      { status: S.ProcessingInProgress, ageSeconds: 60 },
    ]);
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await sweep(rules));
    expect(results.map((r) => r.flagged)).toEqual([1, 0, 0, 0, 0]);
    expect(results.every((r) => r.reverted === 0)).toBe(true);
    expect(await getTask(db, stuck!)).toMatchObject({ status: S.ProcessingInProgress, warning: true, auto_revert_count: 0 });
    expect((await getTask(db, stuck!)).warning_reason).toMatch(/^stuck in ProcessingInProgress for 5 h \(threshold 4 h\); flagged only \(report-only rule\), status unchanged$/);
    expect(await events(stuck!)).toEqual([expect.objectContaining({ kind: "FLAGGED" })]);
    expect(await events(young!)).toEqual([]);

    // The platform moves it on and back: a new episode, flagged once more when it is stuck again.
    await db.$executeRaw`UPDATE tasks SET status = ${S.QueuedForProcessing} WHERE id = ${stuck!}`;
    await db.$executeRaw`UPDATE tasks SET status = ${S.ProcessingInProgress} WHERE id = ${stuck!}`;
    expect((await sweep(rules)).flagged).toBe(0);
    await db.$executeRaw`UPDATE tasks SET status_changed_at = now() - interval '5 hours' WHERE id = ${stuck!}`;
    expect((await sweep(rules)).flagged).toBe(1);
    expect((await sweep(rules)).flagged).toBe(0);
    expect((await events(stuck!)).map((e) => e.kind)).toEqual(["FLAGGED", "FLAGGED"]);
  });

  it("a dry run counts what would be flagged, not what already was", async () => {
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }]);
    expect((await sweep(rules, { dryRun: true })).byStatus.ProcessingInProgress).toMatchObject({ action: "flag", count: 1 });
    await sweep(rules);
    expect((await sweep(rules, { dryRun: true })).byStatus.ProcessingInProgress).toBeUndefined();
  });
});

describe("escalation", () => {
  it("the 3rd automatic revert of a task says it needs support, in the reason, the event, the result and the metric", async () => {
    const rules = buildRules();
    // Nothing here reads shared state: the escalation counter is this process's own.
    const metrics = testMetrics({ db, rules, redis: redis!, prefix });
    const [task] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }]);
    const escalatedPerSweep = [];
    for (let i = 1; i <= 4; i++) {
      const result = await sweep(rules, { onBatch: metrics.onBatch });
      escalatedPerSweep.push(result.escalated);
      // Someone reprocesses it (the real statement: it keeps auto_revert_count) and it gets stuck again.
      expect(await reprocessTask(db, { taskId: task! }, { requestId: `r-${i}`, actor: "support", force: false, thresholds: thresholdRows(rules) })).toMatchObject({ kind: "applied" });
      await db.$executeRaw`UPDATE tasks SET status = ${S.ProcessingInProgress} WHERE id = ${task!}`;
      await db.$executeRaw`UPDATE tasks SET status_changed_at = now() - interval '5 hours' WHERE id = ${task!}`;
    }
    expect(escalatedPerSweep).toEqual([0, 0, 1, 1]);
    const trail = (await events(task!)).filter((e) => e.kind === "AUTO_REVERTED");
    expect(trail.map((e) => e.details)).toEqual([null, null, { escalated: true, revertCount: 3 }, { escalated: true, revertCount: 4 }]);
    expect(trail[1]!.reason).toMatch(/^stuck in ProcessingInProgress for 5 h/);
    expect(trail[2]!.reason).toBe("stuck again for the 3rd time: in ProcessingInProgress for 5 h (threshold 4 h); reverted to ProcessingFailed; needs support");
    expect(trail[3]!.reason).toMatch(/^stuck again for the 4th time/);
    const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === "watchdog_tasks_escalated_total");
    expect(metric?.values).toEqual([expect.objectContaining({ labels: { status: "ProcessingInProgress" }, value: 2 })]);
  });

  it("ESCALATE_AFTER_REVERTS sets N", async () => {
    const [task] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }]);
    expect((await sweep(buildRules(), { escalateAfter: 1 })).escalated).toBe(1);
    expect((await events(task!))[0]!.reason).toMatch(/^stuck again for the 1st time/);
  });
});

describe("move to history next to another writer", () => {
  it("skips the row another transaction holds (SKIP LOCKED) instead of waiting for it, and moves the rest", async () => {
    const [locked, free] = await insertTasks(db, [
      { status: S.Processed, ageSeconds: 30 * H },
      { status: S.Processed, ageSeconds: 29 * H },
    ]);
    const other = await holdTransaction(`SELECT id FROM tasks WHERE id = ${locked!} FOR UPDATE`);
    try {
      const result = await sweep(buildRules());
      expect(result.failed).toEqual({});
      expect(result.movedToHistory).toBe(1);
      expect(result.byStatus.Processed?.sampleTaskIds).toEqual([free]);
    } finally {
      await other.release();
    }
    expect((await getTask(db, locked!)).location).toBe("INBOX");
    expect((await sweep(buildRules())).movedToHistory).toBe(1);
  });
});
