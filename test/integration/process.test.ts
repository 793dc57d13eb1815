// The worker as an operator runs it: start-up validation, graceful and forced shutdown, the job
// scheduler, the Redis DB index, and the CLI's sweep / stuck / rules commands.
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog } from "../../src/app.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createLogger } from "../../src/platform/logger.js";
import { SWEEP_QUEUE, SWEEP_SCHEDULER_ID } from "../../src/platform/queue-names.js";
import { testConfig } from "../support/config.js";
import { holdTransaction, insertTasks, resetTables, testDatabaseUrl, testDb, waitForLockWaiter } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";
import { SAME_SIGNAL_WINDOW_MS } from "../../src/worker-process.js";

const db = testDb();
const H = 3600;
let prefix: string;
let env: Record<string, string>;

beforeEach(async () => {
  prefix = uniquePrefix();
  env = { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, API_PORT: "0", OPS_PORT: "0", SWEEP_SCHEDULE_ENABLED: "false" };
  await resetTables(db);
});
afterEach(() => deletePrefix(prefix));
afterAll(() => db.$disconnect());

describe("start-up validation", () => {
  it("a bad setting stops the process before it connects, naming the variable, what was given and what is allowed", async () => {
    const cli = runCli(["start"], { ...env, API_PORT: "http", SWEEP_INTERVAL: "5m" });
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr()).toContain('API_PORT="http" must be a whole number from 0 to 65535');
    expect(cli.stderr()).toContain('SWEEP_INTERVAL="5m" is not an ISO-8601 duration; write e.g. "PT30M"');
  });

  it("a bad rule set stops start-up naming the rule and the problem", async () => {
    const cli = runCli(["start"], { ...env, RULES_JSON: JSON.stringify({ QueuedForExport: { revertTo: "ExportInProgress" } }) });
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr()).toMatch(/rule "QueuedForExport": cannot revert to ExportInProgress \(61\), a transient status/);
  });
});

describe("shutdown", () => {
  it("on SIGTERM mid-backlog, finishes the batch in flight, leaves the rest for the next sweep, and exits 0", async () => {
    const total = 30_000;
    await insertTasks(db, Array.from({ length: total }, () => ({ status: S.QueuedForProcessing, ageSeconds: 3 * H })));
    // A backlog on purpose, not an outage: the hold (sweep-hold.test.ts) is off for it.
    const worker = runCli(["start"], { ...env, SWEEP_BATCH_SIZE: "20", RULES_JSON: JSON.stringify({ QueuedForProcessing: { hold: false } }) });
    await worker.waitForLog("watchdog started");
    const queue = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix });
    await queue.add("sweep", {});
    // Wait (by polling the outcome, not the clock) until batches are committing, then stop.
    for (let n = 0; n === 0; ) {
      n = ((await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events`)[0]!).n;
    }
    worker.proc.kill("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    await queue.close();

    const summary = worker.lines().find((l) => l.msg === "sweep finished")!;
    expect(summary).toMatchObject({ interrupted: true });
    expect(worker.lines().some((l) => l.msg === "shut down cleanly")).toBe(true);
    const [counts] = (await db.$queryRaw<{ events: number; reverted: number; untouched: number }[]>`
      SELECT (SELECT count(*)::int FROM task_events) AS events,
             count(*) FILTER (WHERE status = ${S.ProcessingFailed} AND auto_revert_count = 1)::int AS reverted,
             count(*) FILTER (WHERE status = ${S.QueuedForProcessing} AND auto_revert_count = 0 AND NOT warning)::int AS untouched
      FROM tasks`) as [{ events: number; reverted: number; untouched: number }];
    // Whole batches only: every reverted task has its event, nothing half-applied, the rest untouched.
    expect(counts.reverted).toBe(summary.reverted);
    expect(counts.events).toBe(counts.reverted);
    expect(counts.reverted % 20).toBe(0);
    expect(counts.reverted + counts.untouched).toBe(total);
    expect(counts.untouched).toBeGreaterThan(0);
  }, 60_000);

  it("on SIGKILL mid-backlog, only whole batches are applied: every reverted task has its event, the rest are untouched", async () => {
    const total = 30_000;
    await insertTasks(db, Array.from({ length: total }, () => ({ status: S.QueuedForProcessing, ageSeconds: 3 * H })));
    const worker = runCli(["start"], { ...env, SWEEP_BATCH_SIZE: "20", RULES_JSON: JSON.stringify({ QueuedForProcessing: { hold: false } }) });
    await worker.waitForLog("watchdog started");
    const queue = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix });
    await queue.add("sweep", {});
    for (let n = 0; n === 0; ) n = ((await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events`)[0]!).n;
    worker.proc.kill("SIGKILL");
    expect(await worker.exited).toEqual({ code: null, signal: "SIGKILL" });
    await queue.close();
    const [counts] = (await db.$queryRaw<{ events: number; reverted: number; untouched: number }[]>`
      SELECT (SELECT count(*)::int FROM task_events) AS events,
             count(*) FILTER (WHERE status = ${S.ProcessingFailed} AND auto_revert_count = 1 AND warning)::int AS reverted,
             count(*) FILTER (WHERE status = ${S.QueuedForProcessing} AND auto_revert_count = 0 AND NOT warning)::int AS untouched
      FROM tasks`) as [{ events: number; reverted: number; untouched: number }];
    expect(counts.events).toBe(counts.reverted);
    expect(counts.reverted % 20).toBe(0);
    expect(counts.reverted + counts.untouched).toBe(total);
    expect(counts.untouched).toBeGreaterThan(0);
  }, 60_000);

  it("a second signal forces the exit while a batch is stuck, and the batch is rolled back whole", async () => {
    await insertTasks(db, Array.from({ length: 5000 }, () => ({ status: S.QueuedForProcessing, ageSeconds: 3 * H })));
    const worker = runCli(["start"], { ...env, SWEEP_BATCH_SIZE: "5", RULES_JSON: JSON.stringify({ QueuedForProcessing: { hold: false } }) });
    await worker.waitForLog("watchdog started");
    const queue = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix });
    await queue.add("sweep", {});
    for (let n = 0; n === 0; ) n = ((await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events`)[0]!).n;
    // Freeze the sweep inside a batch: its INSERT into task_events waits for this lock. The lock is
    // granted when the batch in flight commits; until the next batch is seen waiting for it, the
    // sweep is between batches, where a SIGTERM ends it cleanly (exit 0, as CI once saw).
    const blocker = await holdTransaction("LOCK TABLE task_events IN EXCLUSIVE MODE");
    await waitForLockWaiter(db);
    worker.proc.kill("SIGTERM");
    await worker.waitForLog("shutting down: finishing the batch in flight");
    // A second signal within SAME_SIGNAL_WINDOW_MS is the first one again (npm start forwards Ctrl-C):
    // a person insisting signals later.
    await new Promise((r) => setTimeout(r, SAME_SIGNAL_WINDOW_MS + 200));
    worker.proc.kill("SIGTERM");
    const exit = await worker.exited;
    await blocker.release();
    await queue.close();
    expect(exit).toEqual({ code: 130, signal: null });
    const [counts] = (await db.$queryRaw<{ events: number; reverted: number }[]>`
      SELECT (SELECT count(*)::int FROM task_events) AS events, count(*) FILTER (WHERE auto_revert_count = 1)::int AS reverted FROM tasks`) as [{ events: number; reverted: number }];
    expect(counts.events).toBe(counts.reverted);
  }, 60_000);
});

describe("the job scheduler", () => {
  it("registers one repeating sweep, idempotent across replicas, removable by configuration", async () => {
    const logger = createLogger({ level: "silent" });
    const scheduled = testConfig(prefix, { SWEEP_SCHEDULE_ENABLED: "true", SWEEP_INTERVAL: "PT5M" });
    const replicas = [await startWatchdog(scheduled, buildRules(), logger), await startWatchdog(scheduled, buildRules(), logger)];
    const queue = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix });
    try {
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers).toHaveLength(1);
      expect(schedulers[0]).toMatchObject({ key: SWEEP_SCHEDULER_ID, every: 300_000, name: "sweep" });
      for (const r of replicas) await r.close();
      const off = await startWatchdog(testConfig(prefix, { SWEEP_SCHEDULE_ENABLED: "false" }), buildRules(), logger);
      await off.close();
      expect(await queue.getJobSchedulers()).toHaveLength(0);
    } finally {
      for (const r of replicas) await r.close(); // safe to call twice
      await queue.close();
    }
  });

  it("honours the DB index of REDIS_URL", async () => {
    const url = new URL(testRedisUrl());
    url.pathname = "/5";
    const watchdog = await startWatchdog(testConfig(prefix, { REDIS_URL: url.toString(), SWEEP_SCHEDULE_ENABLED: "true" }), buildRules(), createLogger({ level: "silent" }));
    const db5 = new Redis(url.toString());
    const db0 = new Redis(testRedisUrl());
    try {
      expect((await db5.keys(`${prefix}:*`)).length).toBeGreaterThan(0);
      expect(await db0.keys(`${prefix}:*`)).toEqual([]);
    } finally {
      await watchdog.close();
      await db5.del(...(await db5.keys(`${prefix}:*`)));
      await db5.quit();
      await db0.quit();
    }
  });
});

describe("the CLI", () => {
  it("`sweep --dry-run --wait` prints what a running worker would do; `stuck --json` reports the same", async () => {
    const [id] = await insertTasks(db, [{ status: S.ExportInProgress, ageSeconds: 2 * H }]);
    const worker = runCli(["start"], env);
    await worker.waitForLog("watchdog started");
    try {
      const sweep = runCli(["sweep", "--dry-run", "--wait"], env);
      expect(await sweep.exited).toMatchObject({ code: 0 });
      const printed = JSON.parse(sweep.lines().map((l) => (l.raw ? l.msg : JSON.stringify(l))).join("\n"));
      expect(printed).toMatchObject({ dryRun: true, reverted: 0, wouldRevert: 1, byStatus: { ExportInProgress: { action: "revert", count: 1, sampleTaskIds: [id] } } });
    } finally {
      worker.proc.kill("SIGTERM");
      await worker.exited;
    }
    const stuck = runCli(["stuck", "--json"], env);
    expect(await stuck.exited).toMatchObject({ code: 0 });
    const report = JSON.parse(stuck.lines().map((l) => (l.raw ? l.msg : JSON.stringify(l))).join("\n"));
    expect(report.stuck.find((r: { status: string }) => r.status === "ExportInProgress")).toMatchObject({ count: 1, sampleTaskIds: [id] });
    expect((await db.$queryRaw<{ status: number }[]>`SELECT status FROM tasks WHERE id = ${id!}`)[0]!.status).toBe(S.ExportInProgress);
  }, 60_000);

  it("`sweep --wait` without a running worker gives up with a message that says why", async () => {
    const sweep = runCli(["sweep", "--wait", "--timeout", "PT1S"], env);
    expect(await sweep.exited).toMatchObject({ code: 1 });
    expect(sweep.stderr()).toMatch(/did not finish within PT1S: is a worker running/);
  });
});
