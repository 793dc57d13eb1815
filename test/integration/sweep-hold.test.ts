// The hold (a circuit breaker per probe): an outage is held and reported, not mass-reverted; the
// hold lifts by itself; an operator's release acts on what was held, with their name in every
// event; a held status, a paused one or a failing one never stops the others.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildRules, type Rule } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createLogger } from "../../src/platform/logger.js";
import { readLastSweepHeld } from "../../src/sweep/last-sweep.js";
import { sweepHooks } from "../../src/sweep/sweep-hooks.js";
import { createRedis } from "../../src/platform/redis.js";
import { runSweep, type SweepOptions } from "../../src/sweep/run-sweep.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { metricValue, testMetrics } from "../support/metrics.js";

const db = testDb();
const H = 3600;
let prefix: string;

beforeEach(async () => {
  prefix = uniquePrefix();
  await resetTables(db);
});
afterEach(() => deletePrefix(prefix));
afterAll(() => db.$disconnect());

/** A logger that keeps what was logged at warn and error (the sweep's only levels). */
function recordingLogger() {
  const lines: { level: "warn" | "error"; fields: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    warn: (fields: Record<string, unknown>, msg: string) => lines.push({ level: "warn", fields, msg }),
    error: (fields: Record<string, unknown>, msg: string) => lines.push({ level: "error", fields, msg }),
  } as unknown as NonNullable<SweepOptions["logger"]> & { lines: typeof lines };
}

const sweep = (rules: readonly Rule[], extra: Partial<SweepOptions> = {}) => runSweep(db, rules, { sweepId: `s-${Math.random()}`, dryRun: false, batchSize: 1000, ...extra });

async function statusCounts(): Promise<Record<number, number>> {
  const rows = await db.$queryRaw<{ status: number; n: number }[]>`SELECT status::int, count(*)::int AS n FROM tasks GROUP BY status`;
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

function metricsFor(rules: readonly Rule[], redis: ReturnType<typeof createRedis>) {
  return testMetrics({ db, rules, redis, prefix, lastSweepHeld: () => readLastSweepHeld(redis, prefix) });
}

describe("a staged outage: 5,000 tasks stuck in one status, a limit of 500", () => {
  it("is held (nothing of it reverted, said in the result, the log, the metrics and Redis), lifts by itself, and a release reverts it with the operator's name", async () => {
    const rules = buildRules({ ProcessingInProgress: { hold: { maxTasks: 500 } } });
    const outage = await insertTasks(db, Array.from({ length: 5000 }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H + i, workspaceId: 1 + (i % 5) })));
    // Another status with an ordinary straggler: the hold of one status must not stop it.
    await insertTasks(db, [{ status: S.QueuedForExport, ageSeconds: 2 * H }]);
    const logger = recordingLogger();
    const redis = createRedis(testRedisUrl());
    const metrics = metricsFor(rules, redis);
    const hooks = sweepHooks({ metrics, redis, prefix, logger: createLogger({ level: "silent" }) });
    try {
      const held = await sweep(rules, { logger, onBatch: hooks.onBatch });
      hooks.onSweep(held);
      expect(held.reverted).toBe(1);
      expect(held.byStatus.QueuedForExport?.count).toBe(1);
      expect(held.byStatus.ProcessingInProgress).toBeUndefined();
      expect(held.held).toEqual({
        // The count stops at limit + 1: the hold needs "more than 500", not how many more.
        ProcessingInProgress: { stuck: 501, atLeast: true, limit: 500, maxTasks: 500, maxShare: null, population: null, probes: [{ workspaces: "others", stuck: 501, atLeast: true, limit: 500, maxTasks: 500, maxShare: null, population: null }] },
      });
      expect((await statusCounts())[S.ProcessingInProgress]).toBe(5000);
      const warnings = logger.lines.filter((l) => l.level === "warn");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toMatch(/^holding ProcessingInProgress: at least 501 stuck, more than the limit of 500; acting on none .*watchdog sweep --release ProcessingInProgress --by <name>/);
      // Read from the shared record the sweep writes (asynchronously) to Redis.
      await expect.poll(() => metricValue(metrics.registry, "watchdog_tasks_held", { status: "ProcessingInProgress" })).toBe(501);
      expect(await metricValue(metrics.registry, "watchdog_sweep_holds_total", { status: "ProcessingInProgress" })).toBe(1);
      await expect.poll(() => readLastSweepHeld(redis, prefix)).toMatchObject({ ProcessingInProgress: { stuck: 501, limit: 500 } });

      // The dry run and a second sweep say the same; nothing moves while the outage lasts.
      const preview = await sweep(rules, { dryRun: true });
      expect(preview.held.ProcessingInProgress).toMatchObject({ stuck: 501, atLeast: true, limit: 500 });
      expect(preview.reverted).toBe(0);

      // The pipeline comes back and takes 4,800 of them: the 200 left are ordinary stragglers.
      await db.$executeRaw`UPDATE tasks SET status = ${S.ToReview} WHERE id = ANY(${outage.slice(0, 4800)}::int[])`;
      const lifted = await sweep(rules, { logger, onBatch: hooks.onBatch });
      hooks.onSweep(lifted);
      expect(lifted.held).toEqual({});
      expect(lifted.reverted).toBe(200);
      await expect.poll(() => metricValue(metrics.registry, "watchdog_tasks_held", { status: "ProcessingInProgress" })).toBe(0);
      expect(await metricValue(metrics.registry, "watchdog_sweep_holds_total", { status: "ProcessingInProgress" })).toBe(1);
      await expect.poll(() => readLastSweepHeld(redis, prefix)).toEqual({});
      expect(logger.lines.filter((l) => l.level === "warn")).toHaveLength(1);
    } finally {
      await redis.quit();
    }
  });

  it("a release acts on the held tasks, and every event names the operator", async () => {
    const rules = buildRules({ ProcessingInProgress: { hold: { maxTasks: 500 } } });
    await insertTasks(db, Array.from({ length: 1200 }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H + i })));
    const [other] = await insertTasks(db, [{ status: S.QueuedForProcessing, ageSeconds: 3 * H }]);
    expect((await sweep(rules)).held.ProcessingInProgress).toMatchObject({ stuck: 501, atLeast: true });
    const released = await sweep(rules, { release: { statuses: new Set([S.ProcessingInProgress]), by: "alice@example.com" }, batchSize: 500 });
    expect(released.held).toEqual({});
    expect(released.released).toEqual({ ProcessingInProgress: { by: "alice@example.com", count: 1200 } });
    expect(released.reverted).toBe(1200);
    const events = await db.$queryRaw<{ task_id: number; details: Record<string, unknown> | null }[]>`SELECT task_id, details FROM task_events WHERE kind = 'AUTO_REVERTED'`;
    expect(events).toHaveLength(1201);
    for (const e of events) expect(e.details).toEqual(e.task_id === other ? null : { releasedBy: "alice@example.com" });
  });
});

describe("the limit", () => {
  it("is max(maxTasks, maxShare × the status's inbox population): a share raises it for a large status", async () => {
    const rules = buildRules({ ProcessingInProgress: { hold: { maxTasks: 5, maxShare: 0.5 } } });
    await insertTasks(db, Array.from({ length: 12 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 10 })));
    await insertTasks(db, Array.from({ length: 8 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H })));
    // 8 stuck of 20: limit max(5, 10) = 10 → acts.
    expect((await sweep(rules, { dryRun: true })).held).toEqual({});
    await insertTasks(db, Array.from({ length: 4 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H })));
    // 12 stuck of 24: limit 12 → still acts; one more and it holds.
    expect((await sweep(rules, { dryRun: true })).held).toEqual({});
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }]);
    expect((await sweep(rules)).held.ProcessingInProgress).toMatchObject({ stuck: 13, limit: 12, maxTasks: 5, maxShare: 0.5, population: 25 });
  });

  it("is per probe: a workspace override over its limit is held while the rest of the status goes on", async () => {
    const rules = buildRules({ ProcessingInProgress: { hold: { maxTasks: 100 }, workspaces: [{ workspaceIds: [7], stuckAfter: "PT1H", hold: { maxTasks: 2 } }] } });
    await insertTasks(db, Array.from({ length: 3 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 2 * H, workspaceId: 7 })));
    const [elsewhere] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H, workspaceId: 8 }]);
    const result = await sweep(rules);
    expect(result.reverted).toBe(1);
    expect(result.byStatus.ProcessingInProgress?.sampleTaskIds).toEqual([elsewhere]);
    expect(result.held.ProcessingInProgress?.probes).toEqual([{ workspaces: [7], stuck: 3, atLeast: true, limit: 2, maxTasks: 2, maxShare: null, population: null }]);
  });

  it("switched off (hold: false) lets a backlog of any size through", async () => {
    await insertTasks(db, Array.from({ length: 600 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H })));
    expect((await sweep(buildRules())).held.ProcessingInProgress).toMatchObject({ stuck: 501, atLeast: true, limit: 500 });
    expect((await sweep(buildRules({ ProcessingInProgress: { hold: false } }))).reverted).toBe(600);
  });
});

describe("a paused status", () => {
  it("reports what it would do and acts on none; the others go on", async () => {
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }, { status: S.QueuedForExport, ageSeconds: 2 * H }]);
    const result = await sweep(buildRules(), { pause: { all: false, statuses: new Set([S.ProcessingInProgress]) } });
    expect(result.paused).toEqual({ ProcessingInProgress: { stuck: 1, sampleTaskIds: [1] } });
    expect(result.reverted).toBe(1);
    expect((await statusCounts())[S.ProcessingInProgress]).toBe(1);
  });
});

describe("one status's failing statement", () => {
  it("is logged and reported while every other status is swept", async () => {
    // A threshold the database cannot subtract from now() (out of the timestamp range): a real failing statement.
    const rules = buildRules().map((r) => (r.status === S.ProcessingInProgress ? { ...r, stuckAfterSeconds: 400_000_000_000 } : r));
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }, { status: S.QueuedForExport, ageSeconds: 2 * H }, { status: S.Processed, ageSeconds: 30 * H }]);
    const logger = recordingLogger();
    const redis = createRedis(testRedisUrl());
    const metrics = metricsFor(rules, redis);
    const result = await sweep(rules, { logger, onStatusFailed: metrics.onStatusFailed }).finally(() => redis.disconnect());
    expect(Object.keys(result.failed)).toEqual(["ProcessingInProgress"]);
    // Counted when it failed, not when the sweep ends.
    expect(await metricValue(metrics.registry, "watchdog_sweep_status_failures_total", { status: "ProcessingInProgress" })).toBe(1);
    expect(result.failed.ProcessingInProgress).toMatch(/out of range/);
    expect(result.reverted).toBe(1);
    expect(result.movedToHistory).toBe(1);
    expect(logger.lines.filter((l) => l.level === "error").map((l) => l.msg)).toEqual(["sweep of ProcessingInProgress failed; the other statuses go on"]);
  });

  it("a threshold beyond int32 seconds (30,000 days; the rules refuse it at load) is no overflow in SQL either: the sweep runs and waits", async () => {
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }]);
    const rules = buildRules().map((r) => (r.status === S.ProcessingInProgress ? { ...r, stuckAfterSeconds: 30_000 * 86_400 } : r));
    const result = await sweep(rules);
    expect(result.failed).toEqual({});
    expect(result.reverted).toBe(0);
  });
});

describe("a status with thousands of workspace overrides", () => {
  it("judges each workspace by its own threshold, a switched-off one's old tasks cost nothing and are left alone", async () => {
    const overrides = Array.from({ length: 2000 }, (_, i) => ({ workspaceIds: [100 + i], ...(i % 2 === 0 ? { stuckAfter: "PT1H" } : { enabled: false }) }));
    const rules = buildRules({ ProcessingInProgress: { workspaces: overrides } });
    await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 30 * H, workspaceId: 101 }, // switched off
      { status: S.ProcessingInProgress, ageSeconds: 30 * 60, workspaceId: 100 }, // PT1H, not yet
      { status: S.ProcessingInProgress, ageSeconds: 3 * H, workspaceId: 7 }, // the rule's PT4H, not yet
    ]);
    expect((await sweep(rules)).reverted).toBe(0);
    const [late, other] = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 2 * H, workspaceId: 2098 }, // PT1H: stuck
      { status: S.ProcessingInProgress, ageSeconds: 5 * H, workspaceId: 5 }, // the rule's PT4H: stuck
    ]);
    const result = await sweep(rules);
    expect(result.reverted).toBe(2);
    expect([...result.byStatus.ProcessingInProgress!.sampleTaskIds].sort()).toEqual([late, other].sort());
  });
});
