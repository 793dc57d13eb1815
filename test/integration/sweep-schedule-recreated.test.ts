// The job scheduler is Redis state: a Redis that restarts EMPTY (no persistence) loses it, and a
// scheduler removed by hand is gone too. Before, it was upserted only at start, so scheduled sweeps
// stopped until the worker restarted (/health/sweeps red after three intervals, nobody re-creating it).
// Now every replica re-creates it on every reconnect and checks each interval (an idempotent upsert):
// scheduled sweeps resume within about one interval, without a restart.
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { SWEEP_QUEUE, SWEEP_SCHEDULER_ID } from "../../src/platform/queue-names.js";
import { resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { startOwnRedis, type OwnRedis } from "../support/redis-server.js";
import { uniquePrefix } from "../support/redis.js";
import { runCli, type CliProcess } from "../support/worker-process.js";

const db = testDb();
const INTERVAL_MS = 2000;
let redis: OwnRedis;
let prefix: string;
const workers: CliProcess[] = [];

beforeEach(async () => {
  prefix = uniquePrefix();
  redis = await startOwnRedis();
  await resetTables(db);
});
afterEach(async () => {
  for (const w of workers.splice(0)) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill("SIGKILL");
  await redis.stop();
});
afterAll(() => db.$disconnect());

function startWorker(): CliProcess {
  const worker = runCli(["start"], {
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    API_PORT: "0",
    OPS_PORT: "0",
    SWEEP_INTERVAL: `PT${INTERVAL_MS / 1000}S`,
  });
  workers.push(worker);
  return worker;
}

const scheduledSweeps = (worker: CliProcess) => worker.lines().filter((l) => l.msg === "sweep finished" && l.scheduled === true).length;

async function untilScheduledSweepAfter(workersToWatch: CliProcess[], count: number, withinMs: number): Promise<number> {
  const started = Date.now();
  const total = () => workersToWatch.reduce((n, w) => n + scheduledSweeps(w), 0);
  while (total() <= count) {
    if (Date.now() - started > withinMs) throw new Error(`no scheduled sweep within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

describe("the sweep schedule, re-created whenever it is missing", () => {
  it("when Redis restarts empty, scheduled sweeps resume within about one interval, without a restart of the worker", async () => {
    const worker = startWorker();
    await worker.waitForLog("watchdog started");
    await untilScheduledSweepAfter([worker], 0, 15_000);
    await redis.kill();
    await redis.start(); // empty: no scheduler, no queue keys
    const before = scheduledSweeps(worker);
    // Reconnecting takes up to ioredis's retry delay (≤ 2 s); then at most one interval.
    const ms = await untilScheduledSweepAfter([worker], before, 2000 + 2 * INTERVAL_MS + 2000);
    console.info(`schedule after an empty Redis restart: a scheduled sweep ${ms} ms after the restart`);
    worker.proc.kill("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  }, 60_000);

  it("when the scheduler is removed while Redis stays up, the interval check of any replica puts it back", async () => {
    const replicas = [startWorker(), startWorker()];
    for (const r of replicas) await r.waitForLog("watchdog started");
    await untilScheduledSweepAfter(replicas, 0, 15_000);
    const queue = new Queue(SWEEP_QUEUE, { connection: { url: redis.url }, prefix });
    try {
      await queue.removeJobScheduler(SWEEP_SCHEDULER_ID);
      // Drop the next run it had already put in the queue too: only a re-created scheduler sweeps again.
      await queue.drain(true);
      const before = replicas.reduce((n, w) => n + scheduledSweeps(w), 0);
      await expect.poll(async () => (await queue.getJobScheduler(SWEEP_SCHEDULER_ID))?.every, { timeout: 2 * INTERVAL_MS + 1000, interval: 50 }).toBe(INTERVAL_MS);
      await untilScheduledSweepAfter(replicas, before, 3 * INTERVAL_MS);
      expect((await queue.getJobSchedulers()).length).toBe(1);
    } finally {
      await queue.close();
    }
    for (const r of replicas) r.proc.kill("SIGTERM");
    for (const r of replicas) expect(await r.exited).toEqual({ code: 0, signal: null });
  }, 60_000);
});
