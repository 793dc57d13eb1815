// Concurrency proven, not assumed: two real worker processes and several simultaneous sweeps act
// on each stuck task exactly once; a row the platform holds is left alone; a worker whose clock
// runs hours ahead reverts nothing early.
import { Queue, QueueEvents } from "bullmq";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startWatchdog } from "../../src/app.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createLogger } from "../../src/platform/logger.js";
import { SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { createRedis } from "../../src/platform/redis.js";
import { enqueueSweep, type SweepJobData } from "../../src/sweep/sweep-queue.js";
import { runSweep, type SweepResult } from "../../src/sweep/run-sweep.js";
import { testConfig } from "../support/config.js";
import { eventsOf, getTask, holdTransaction, insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { runCli, type CliProcess } from "../support/worker-process.js";

const db = testDb();
const H = 3600;
let prefix: string;

beforeEach(async () => {
  prefix = uniquePrefix();
  await resetTables(db);
});
afterEach(async () => {
  vi.useRealTimers();
  await deletePrefix(prefix);
});
afterAll(() => db.$disconnect());

async function countRows(sql: "events" | "touched"): Promise<number> {
  const rows =
    sql === "events"
      ? await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events`
      : await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM tasks WHERE warning`;
  return rows[0]!.n;
}

describe("when two worker processes run several sweeps at once over thousands of stuck tasks", () => {
  it("acts on every task exactly once", async () => {
    const statuses = [S.QueuedForPreProcessing, S.PreProcessingInProgress, S.QueuedForProcessing, S.ProcessingInProgress, S.ExportInProgress, S.Processed];
    const total = 6000;
    await insertTasks(db, Array.from({ length: total }, (_, i) => ({ status: statuses[i % statuses.length]!, ageSeconds: 30 * H, workspaceId: 1 + (i % 7) })));

    // A backlog on purpose, not an outage: the hold (tested in sweep-hold.test.ts) is off here.
    const noHold = JSON.stringify(Object.fromEntries(statuses.map((s) => [String(s), { hold: false }])));
    const env = { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, API_PORT: "0", OPS_PORT: "0", SWEEP_SCHEDULE_ENABLED: "false", SWEEP_BATCH_SIZE: "200", RULES_JSON: noHold };
    const workers: CliProcess[] = [runCli(["start"], env), runCli(["start"], env)];
    const redis = createRedis(testRedisUrl());
    const queue = new Queue<SweepJobData>(SWEEP_QUEUE, { connection: redis, prefix });
    const events = new QueueEvents(SWEEP_QUEUE, { connection: redis.duplicate(), prefix });
    try {
      await Promise.all(workers.map((w) => w.waitForLog("watchdog started")));
      await events.waitUntilReady();
      const jobs = await Promise.all(Array.from({ length: 6 }, () => enqueueSweep(queue, {})));
      const results = (await Promise.all(jobs.map((j) => j.waitUntilFinished(events, 60_000)))) as SweepResult[];

      expect(results.reduce((n, r) => n + r.reverted + r.movedToHistory, 0)).toBe(total);
      const perTask = await db.$queryRaw<{ events: number; tasks: number }[]>`
        SELECT count(*)::int AS events, count(DISTINCT task_id)::int AS tasks FROM task_events`;
      expect(perTask[0]).toEqual({ events: total, tasks: total });
      const reverts = await db.$queryRaw<{ max: number; min: number }[]>`
        SELECT max(auto_revert_count)::int AS max, min(auto_revert_count)::int AS min FROM tasks WHERE status <> ${S.Processed}`;
      expect(reverts[0]).toEqual({ max: 1, min: 1 });
      // Both processes took part: the sweeps really ran side by side.
      const sweepsPerWorker = workers.map((w) => w.lines().filter((l) => l.msg === "sweep finished").length);
      expect(sweepsPerWorker.every((n) => n >= 1)).toBe(true);
      expect(sweepsPerWorker.reduce((a, b) => a + b, 0)).toBe(6);
    } finally {
      for (const w of workers) w.proc.kill("SIGTERM");
      const exits = await Promise.all(workers.map((w) => w.exited));
      await events.close();
      await queue.close();
      await redis.quit();
      expect(exits).toEqual([
        { code: 0, signal: null },
        { code: 0, signal: null },
      ]);
    }
  }, 90_000);

  it("in-process: ten simultaneous sweeps over one backlog never act on a task twice", async () => {
    const total = 3000;
    await insertTasks(db, Array.from({ length: total }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H })));
    const rules = buildRules({ ProcessingInProgress: { hold: false } });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => runSweep(db, rules, { sweepId: `s${i}`, dryRun: false, batchSize: 100 })));
    expect(results.reduce((n, r) => n + r.reverted, 0)).toBe(total);
    expect(await countRows("events")).toBe(total);
    expect(await countRows("touched")).toBe(total);
  });
});

describe("when the platform changes a task while the sweep runs", () => {
  it("leaves a row the platform holds alone, and its new status stands", async () => {
    const [held, free] = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * H },
      { status: S.ProcessingInProgress, ageSeconds: 5 * H },
    ]);
    // The platform is mid-transaction: it has found the task and is moving it on.
    const platform = await holdTransaction(`UPDATE tasks SET status = ${S.ToReview} WHERE id = ${held!}`);
    try {
      const result = await runSweep(db, buildRules(), { sweepId: "during-platform-write", dryRun: false, batchSize: 1000 });
      expect(result.reverted).toBe(1);
      expect(result.byStatus.ProcessingInProgress?.sampleTaskIds).toEqual([free]);
    } finally {
      await platform.release();
    }
    expect(await getTask(db, held!)).toMatchObject({ status: S.ToReview, warning: false, auto_revert_count: 0 });
    expect(await eventsOf(db, held!)).toEqual([]);
    // And the next sweep sees a healthy task: its status changed just now.
    expect((await runSweep(db, buildRules(), { sweepId: "after", dryRun: false, batchSize: 1000 })).reverted).toBe(0);
  });
});

describe("when the worker's clock runs hours ahead of the database", () => {
  it("judges age by the database clock and reverts nothing early", async () => {
    const [justUnder, justOver] = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 4 * H - 60 },
      { status: S.ProcessingInProgress, ageSeconds: 4 * H + 60 },
    ]);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 6 * H * 1000 });
    const watchdog = await startWatchdog(testConfig(prefix), buildRules(), createLogger({ level: "silent" }));
    const redis = createRedis(testRedisUrl());
    const queue = new Queue<SweepJobData>(SWEEP_QUEUE, { connection: redis, prefix });
    const events = new QueueEvents(SWEEP_QUEUE, { connection: redis.duplicate(), prefix });
    try {
      await events.waitUntilReady();
      const job = await enqueueSweep(queue, {});
      const result = (await job.waitUntilFinished(events, 20_000)) as SweepResult;
      expect(result.reverted).toBe(1);
    } finally {
      await events.close();
      await queue.close();
      await redis.quit();
      await watchdog.close();
    }
    expect((await getTask(db, justUnder!)).status).toBe(S.ProcessingInProgress);
    expect((await getTask(db, justOver!)).status).toBe(S.ProcessingFailed);
  });
});
