// Gauges that several replicas report read shared state, so the deployment's value does not depend
// on which replica a scrape hits or which one last swept: the held tasks (the last completed sweep
// of ANY replica, from Redis) and the stuck counts (taken once per interval for the whole
// deployment, shared through Redis). Each "replica" is a metrics registry as the worker builds it,
// with its own Redis connection, over the same database and queue prefix.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildRules, type Rule } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createLogger } from "../../src/platform/logger.js";
import type { Metrics } from "../../src/ops/metrics.js";
import { readLastSweepHeld } from "../../src/sweep/last-sweep.js";
import { sweepHooks } from "../../src/sweep/sweep-hooks.js";
import { createRedis, type RedisConnection } from "../../src/platform/redis.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { metricValue as value, testMetrics } from "../support/metrics.js";

const db = testDb();
const H = 3600;
const silent = createLogger({ level: process.env.DEBUG_LOG ? "warn" : "silent" });
let prefix: string;
let connections: RedisConnection[] = [];

beforeEach(async () => {
  prefix = uniquePrefix();
  await resetTables(db);
});
afterEach(async () => {
  for (const c of connections) c.disconnect();
  connections = [];
  await deletePrefix(prefix);
});
afterAll(() => db.$disconnect());

interface Replica {
  metrics: Metrics;
  hooks: ReturnType<typeof sweepHooks>;
}

function replica(rules: readonly Rule[], stuckCountIntervalMs = 60_000, cell?: string): Replica {
  const redis = createRedis(testRedisUrl());
  connections.push(redis);
  const metrics = testMetrics({ db, rules, redis, prefix, stuckCountIntervalMs, logger: silent, build: { version: "test", commit: "test", cell }, lastSweepHeld: () => readLastSweepHeld(redis, prefix) });
  return { metrics, hooks: sweepHooks({ metrics, redis, prefix, logger: silent }) };
}

async function sweepOn(r: Replica, rules: readonly Rule[]) {
  const result = await runSweep(db, rules, { sweepId: `s-${Math.random()}`, dryRun: false, batchSize: 1000, logger: silent, onBatch: r.hooks.onBatch });
  r.hooks.onSweep(result);
  return result;
}

describe("watchdog_tasks_held across replicas", () => {
  it("when replica A's sweep holds a status and replica B's later sweep finds the hold lifted, A reports 0 too", async () => {
    const rules = buildRules({ ProcessingInProgress: { hold: { maxTasks: 100 } } });
    const outage = await insertTasks(db, Array.from({ length: 600 }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H + i })));
    const [a, b] = [replica(rules), replica(rules)];

    expect((await sweepOn(a, rules)).held.ProcessingInProgress).toMatchObject({ stuck: 101, atLeast: true, limit: 100 }); // the level count stops at limit + 1
    for (const r of [a, b]) await expect.poll(() => value(r.metrics.registry, "watchdog_tasks_held", { status: "ProcessingInProgress" })).toBe(101);

    // The pipeline recovers; B sweeps (A never sweeps again).
    await db.$executeRaw`UPDATE tasks SET status = ${S.ToReview} WHERE id = ANY(${outage.slice(0, 550)}::int[])`;
    expect((await sweepOn(b, rules)).held).toEqual({});
    for (const r of [a, b]) await expect.poll(() => value(r.metrics.registry, "watchdog_tasks_held", { status: "ProcessingInProgress" })).toBe(0);
  });
});

describe("watchdog_tasks_stuck: counted once per interval for the deployment", () => {
  it("when 3 replicas are scraped 10 times each, the database counts once and every replica reports the same", async () => {
    const rules = buildRules();
    await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * H, workspaceId: 1 },
      { status: S.ProcessingInProgress, ageSeconds: 6 * H, workspaceId: 2 },
      { status: S.QueuedForExport, ageSeconds: 2 * H, workspaceId: 3 },
    ]);
    const replicas = [replica(rules), replica(rules), replica(rules)];
    await Promise.all(replicas.flatMap((r) => Array.from({ length: 10 }, () => r.metrics.registry.metrics())));
    for (const r of replicas) {
      await expect.poll(() => value(r.metrics.registry, "watchdog_tasks_stuck", { status: "ProcessingInProgress" })).toBe(2);
      expect(await value(r.metrics.registry, "watchdog_tasks_stuck", { status: "QueuedForExport" })).toBe(1);
      expect(await value(r.metrics.registry, "watchdog_oldest_stuck_age_seconds", { status: "ProcessingInProgress" })).toBeGreaterThanOrEqual(6 * H);
    }
    const counts = await Promise.all(replicas.map((r) => value(r.metrics.registry, "watchdog_stuck_count_seconds")));
    expect(counts.reduce((sum, n) => sum! + (n ?? 0), 0)).toBe(1);
  });

  it("when a sweep changed tasks, the next scrape on any replica counts again; a new stuck task shows then, not before", async () => {
    const rules = buildRules();
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }]);
    const [a, b] = [replica(rules), replica(rules)];
    await expect.poll(() => value(a.metrics.registry, "watchdog_tasks_stuck", { status: "ProcessingInProgress" })).toBe(1);
    // Within the interval nobody counts again: a task that gets stuck now is not seen yet.
    await insertTasks(db, [{ status: S.QueuedForExport, ageSeconds: 2 * H }]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await value(b.metrics.registry, "watchdog_tasks_stuck", { status: "QueuedForExport" })).toBe(0);
    // A's sweep reverts both: B's next scrape counts afresh.
    expect((await sweepOn(a, rules)).reverted).toBe(2);
    await expect.poll(() => value(b.metrics.registry, "watchdog_tasks_stuck", { status: "ProcessingInProgress" })).toBe(0);
    const counts = await Promise.all([a, b].map((r) => value(r.metrics.registry, "watchdog_stuck_count_seconds")));
    expect(counts.reduce((sum, n) => sum! + (n ?? 0), 0)).toBe(2);
  });
});

describe("watchdog_tasks_stuck: what it counts", () => {
  it("a status without overrides counts its one index range, one with overrides judges each workspace by its own threshold: both what a sweep would act on", async () => {
    const rules = buildRules({ ProcessingInProgress: { workspaces: [{ workspaceIds: [9], stuckAfter: "PT1H" }, { workspaceIds: [8], enabled: false }] } });
    await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 2 * H, workspaceId: 9 }, // stuck by its override (1 h)
      { status: S.ProcessingInProgress, ageSeconds: 2 * H, workspaceId: 1 }, // not yet: the rule's 4 h
      { status: S.ProcessingInProgress, ageSeconds: 5 * H, workspaceId: 1 }, // stuck
      { status: S.ProcessingInProgress, ageSeconds: 50 * H, workspaceId: 8 }, // switched off there
      { status: S.QueuedForExport, ageSeconds: 2 * H, workspaceId: 8 },
      { status: S.QueuedForExport, ageSeconds: 60, workspaceId: 8 },
    ]);
    const r = replica(rules);
    await expect.poll(() => value(r.metrics.registry, "watchdog_tasks_stuck", { status: "ProcessingInProgress" })).toBe(2);
    expect(await value(r.metrics.registry, "watchdog_tasks_stuck", { status: "QueuedForExport" })).toBe(1);
    expect(await value(r.metrics.registry, "watchdog_oldest_stuck_age_seconds", { status: "ProcessingInProgress" })).toBeGreaterThanOrEqual(5 * H);
    expect(await value(r.metrics.registry, "watchdog_oldest_stuck_age_seconds", { status: "ProcessingInProgress" })).toBeLessThan(6 * H);
    const dry = await runSweep(db, rules, { sweepId: "dry", dryRun: true, batchSize: 1000, logger: silent });
    expect(dry.byStatus.ProcessingInProgress?.count).toBe(2);
    expect(dry.byStatus.QueuedForExport?.count).toBe(1);
  });
});

describe("CELL", () => {
  it("when set, every series the process exports carries the cell label; unset, none does", async () => {
    const rules = buildRules();
    const text = await replica(rules, 60_000, "eu-1").metrics.registry.metrics();
    const series = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
    expect(series.length).toBeGreaterThan(20);
    expect(series.filter((line) => !line.includes('cell="eu-1"'))).toEqual([]);
    expect(await replica(rules).metrics.registry.metrics()).not.toContain("cell=");
  });
});
