// The rate hold: a slow-burn outage — an upstream stage failing 300 tasks per interval for hours —
// never crosses the level hold (each sweep drains what is stuck), so the watchdog holds a status
// also when its reverts within a window pass the documented rate limit (docs/safety.md, "Rate
// hold"): the larger of `maxReverts` and `normalMultiple` × the status's normal reverts per window.
// Staged: 300 new stuck tasks per interval for 20 intervals, the sweeps run directly, time moved by
// writing timestamps (the tasks' ages, the revert history's minutes), never by sleeping.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { runSweep, type SweepOptions, type SweepResult } from "../../src/sweep/run-sweep.js";
import { createRedis } from "../../src/platform/redis.js";
import { sweepHealthHandler } from "../../src/ops/sweep-health.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { deletePrefix, keysUnder, prefixesDeletedAfterEach, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { recordSweepCompleted } from "../../src/sweep/last-sweep.js";
import { runCli } from "../support/worker-process.js";
import { testMetrics } from "../support/metrics.js";
import { sample } from "./http-app.js";

const db = testDb();
const redis = createRedis(testRedisUrl());
beforeEach(() => resetTables(db));
afterAll(async () => {
  await db.$disconnect();
  await redis.quit();
});

/** Every prefix a test used: the file leaves no key under any of them. */
const owned = prefixesDeletedAfterEach();
const prefixOf = owned.next;
const prefixes = owned.all;

const H = 3600;
const HEALTHY = { overdue: false, lastCompletedAtMs: null, secondsSinceLastCompleted: null, overdueAfterSeconds: 180 };
const INTERVAL_SECONDS = 5 * 60;
const PER_INTERVAL = 300;

function recordingLogger() {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    warn: (fields: Record<string, unknown>, msg: string) => lines.push({ level: "warn", fields, msg }),
    error: (fields: Record<string, unknown>, msg: string) => lines.push({ level: "error", fields, msg }),
  } as unknown as NonNullable<SweepOptions["logger"]> & { lines: typeof lines };
}

/** Moves the database's past back by one interval: the revert history and every task's status time. */
async function oneIntervalLater(): Promise<void> {
  await db.$executeRaw`UPDATE status_revert_counts SET minute = minute - ${INTERVAL_SECONDS}::int * interval '1 second'`;
  await db.$executeRaw`UPDATE tasks SET status_changed_at = status_changed_at - ${INTERVAL_SECONDS}::int * interval '1 second'`;
}

const reverted = async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events WHERE kind = 'AUTO_REVERTED'`)[0]!.n;

describe("a slow burn: 300 new stuck tasks per 5-minute interval in ProcessingInProgress, for 20 intervals", () => {
  it("is reverted until the rate limit (1,000 reverts per PT1H) would be crossed, held from that interval on in every sweep, and reverted on release with the operator's name", async () => {
    // The default rules: level hold 500 tasks, rate hold max(1000, 3 × normal) per PT1H. No history: normal is 0.
    const rules = buildRules();
    const logger = recordingLogger();
    const results: SweepResult[] = [];
    // The metrics read what the last sweep held from the record every replica shares; here, the last result's.
    const metrics = testMetrics({ db, rules, redis, prefix: prefixOf(), sweepHealth: async () => HEALTHY, lastSweepHeld: async () => results.at(-1)?.held ?? {} });
    let stuckReport: { rateHolds: Record<string, unknown>[] } | undefined;
    for (let interval = 1; interval <= 20; interval++) {
      await insertTasks(db, Array.from({ length: PER_INTERVAL }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: 4 * H + 60 + i, workspaceId: 1 + (i % 3) })));
      const result = await runSweep(db, rules, { sweepId: `burn-${interval}`, dryRun: false, batchSize: 1000, logger });
      metrics.onSweep(result);
      results.push(result);
      if (interval === 4) {
        // What an operator sees now: `watchdog stuck --json` says the next sweep would hold it by its rate.
        const cli = runCli(["stuck", "--json"], { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefixOf() });
        expect((await cli.exited).code, cli.stderr()).toBe(0);
        stuckReport = JSON.parse(cli.lines().map((l) => (l.raw ? l.msg : JSON.stringify(l))).join("\n"));
      }
      await oneIntervalLater();
    }
    const name = "ProcessingInProgress";
    // Intervals 1–3 revert 300 each (900 in the window); interval 4 would make 1,200 > 1,000: held from there on.
    expect(results.map((r) => r.byStatus[name]?.count ?? 0)).toEqual([300, 300, 300, ...Array(17).fill(0)]);
    expect(results.map((r) => name in r.held)).toEqual([false, false, false, ...Array(17).fill(true)]);
    expect(results[3]!.held[name]).toMatchObject({ stuck: 300, rate: { reverts: 900, wouldRevert: 300, limit: 1000, maxReverts: 1000, normalMultiple: 3, window: "PT1H" } });
    // Later the level hold joins in: more than 10 % of the 5,100 in the inbox (its count stops at the limit + 1).
    expect(results[19]!.held[name]).toMatchObject({ stuck: 511, atLeast: true, limit: 510, population: 17 * PER_INTERVAL });
    expect(await reverted()).toBe(900);
    expect(await db.$queryRaw`SELECT count(*)::int AS n FROM tasks WHERE status = ${S.ProcessingInProgress}::smallint`).toEqual([{ n: 17 * PER_INTERVAL }]);
    // One warn line per held sweep, naming the rate, the window and how to release.
    const rateLines = logger.lines.filter((l) => l.level === "warn" && /rate limit/.test(l.msg));
    expect(rateLines.length).toBeGreaterThanOrEqual(1);
    expect(rateLines[0]!.msg).toMatch(/^holding ProcessingInProgress: 900 reverted in the last PT1H and 300 more stuck, more than the rate limit of 1000 .*watchdog sweep --release ProcessingInProgress --by <name>/);

    // The metrics, /health/sweeps (from what the sweep recorded) and `watchdog stuck`.
    const exposition = await metrics.registry.metrics();
    expect(sample(exposition, "watchdog_sweep_rate_holds_total", { status: name })).toBe(1);
    expect(sample(exposition, "watchdog_sweep_holds_total", { status: name })).toBe(17);
    expect(sample(exposition, "watchdog_tasks_held", { status: name })).toBe(511);
    const health = await sweepHealthHandler({ lastSweep: async () => HEALTHY, held: async () => results[3]!.held, pauses: async () => [] })({} as never);
    expect(health).toMatchObject({ status: 503, body: { status: "held" } });
    expect((health.body as { problems: string[] }).problems).toEqual([expect.stringMatching(/^held: ProcessingInProgress \(300 stuck; rate hold: 900 reverted in the last PT1H, 300 more stuck, rate limit 1000\)/)]);
    expect(stuckReport!.rateHolds).toEqual([expect.objectContaining({ status: name, reverts: 900, wouldRevert: 300, limit: 1000, wouldHold: true })]);
    // `watchdog status` reads the record a completed sweep writes to Redis: interval 4's, held by its rate alone.
    const prefix = uniquePrefix();
    try {
      await recordSweepCompleted(redis, prefix, results[3]!.held);
      const status = runCli(["status"], { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix });
      expect((await status.exited).code, status.stderr()).toBe(0);
      const printed = status.lines().map((l) => (l.raw ? l.msg : JSON.stringify(l))).join("\n");
      expect(printed).toMatch(/^Not acting fully: .*held/);
      expect(printed).toMatch(/\n *ProcessingInProgress +300 +\d+ +900 reverted in PT1H, limit 1000 *(\n|$)/);
    } finally {
      await deletePrefix(prefix);
    }

    // A dry run says the same, and changes nothing.
    const dry = await runSweep(db, rules, { sweepId: "burn-dry", dryRun: true, batchSize: 1000 });
    expect(dry.held[name]).toBeDefined();

    // An operator checks and releases it: every held task is reverted, with the name in every event.
    const released = await runSweep(db, rules, { sweepId: "burn-release", dryRun: false, batchSize: 1000, release: { statuses: new Set([S.ProcessingInProgress]), by: "alice" } });
    expect(released.byStatus[name]?.count).toBe(17 * PER_INTERVAL);
    expect(released.released[name]).toEqual({ by: "alice", count: 17 * PER_INTERVAL });
    expect(await db.$queryRaw`SELECT count(*)::int AS n FROM task_events WHERE sweep_id = 'burn-release' AND details ->> 'releasedBy' = 'alice'`).toEqual([{ n: 17 * PER_INTERVAL }]);
    // The released reverts count too: the next slow-burn interval is held again at once.
    await insertTasks(db, Array.from({ length: PER_INTERVAL }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: 4 * H + 60 + i })));
    expect(name in (await runSweep(db, rules, { sweepId: "burn-after", dryRun: false, batchSize: 1000 })).held).toBe(true);
  });

  it("a status with a normal rate of its own gets a limit of normalMultiple × that rate, and a rule may switch the rate hold off", async () => {
    // A day of history: 2,400 reverts over the day before the window = 100 per hour; × 3 = 300 < 1000: the count rules.
    // 24,000 = 1,000 per hour; × 3 = 3,000 per PT1H.
    await db.$executeRaw`INSERT INTO status_revert_counts (status, minute, reverts)
      SELECT ${S.ProcessingInProgress}::smallint, date_trunc('minute', now()) - (2 * 3600 + m * 60) * interval '1 second', 1000
      FROM generate_series(0, 23) AS m`;
    const rules = buildRules();
    await insertTasks(db, Array.from({ length: 400 }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: 4 * H + 60 + i })));
    // 400 now, nothing in the window: well under either limit.
    const first = await runSweep(db, rules, { sweepId: "normal-1", dryRun: false, batchSize: 1000 });
    expect(first.byStatus.ProcessingInProgress?.count).toBe(400);
    await db.$executeRaw`INSERT INTO status_revert_counts (status, minute, reverts) VALUES (${S.ProcessingInProgress}::smallint, date_trunc('minute', now()) - interval '10 minutes', 2500)`;
    await insertTasks(db, Array.from({ length: 200 }, (_, i) => ({ status: S.ProcessingInProgress, ageSeconds: 4 * H + 60 + i })));
    // 2,900 in the window + 200 = 3,100 > max(1000, 3 × 1000 = 3000): held, and the result says the normal rate.
    const second = await runSweep(db, rules, { sweepId: "normal-2", dryRun: false, batchSize: 1000 });
    expect(second.held.ProcessingInProgress).toMatchObject({ rate: { reverts: 2900, wouldRevert: 200, limit: 3000, normalPerWindow: 1000 } });
    const off = await runSweep(db, buildRules({ ProcessingInProgress: { hold: { maxTasks: 500, maxShare: 0.1, rate: false } } }), { sweepId: "normal-3", dryRun: false, batchSize: 1000 });
    expect(off.byStatus.ProcessingInProgress?.count).toBe(200);
  });
});

describe("afterwards", () => {
  it("no key is left under the prefixes the tests used (docs/development.md: each test deletes its keys)", async () => {
    expect(prefixes.length).toBeGreaterThan(0);
    expect(await keysUnder(prefixes)).toEqual([]);
  });
});
