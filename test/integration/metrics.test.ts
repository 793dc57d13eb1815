// /metrics of the running worker: values that move when a sweep reverts and archives tasks.
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createSweepQueue, enqueueSweep } from "../../src/sweep/sweep-queue.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { stuckCountsLockKey } from "../../src/sweep/stuck-counts.js";
import { sample, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
const H = 3600;
let app: RunningApp;
let redis: Redis;
let sweepQueue: ReturnType<typeof createSweepQueue>;

beforeAll(async () => {
  await resetTables(db);
  app = await startApp();
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  sweepQueue = createSweepQueue(redis, app.prefix);
});
afterAll(async () => {
  await sweepQueue.close();
  await redis.quit();
  await app.stop();
  await db.$disconnect();
});

const scrape = async () => {
  const response = await fetch(`${app.opsUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
};

async function sweep(data: { dryRun?: unknown } = {}) {
  const job = await enqueueSweep(sweepQueue, data as { dryRun?: boolean });
  await expect.poll(() => job.getState(), { timeout: 10_000, interval: 50 }).toMatch(/^(completed|failed)$/);
  return (await sweepQueue.getJob(job.id!))!;
}

describe("when a sweep reverts and archives stuck tasks", () => {
  it("the counters count them by status, the stuck gauge drops to 0, and the sweep is timed and recorded", async () => {
    await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * H },
      { status: S.ProcessingInProgress, ageSeconds: 6 * H },
      { status: S.ProcessingInProgress, ageSeconds: 60 }, // healthy: not stuck
      { status: S.QueuedForExport, ageSeconds: 2 * H },
      { status: S.Deleting, previousStatus: S.ToReview, ageSeconds: 2 * H },
      { status: S.Processed, ageSeconds: 25 * H },
    ]);
    const before = await scrape();
    expect(sample(before, "watchdog_tasks_stuck", { status: "ProcessingInProgress" })).toBe(2);
    expect(sample(before, "watchdog_tasks_stuck", { status: "QueuedForExport" })).toBe(1);
    expect(sample(before, "watchdog_tasks_stuck", { status: "Processed" })).toBe(1);
    expect(sample(before, "watchdog_tasks_stuck", { status: "ExportInProgress" })).toBe(0);
    expect(sample(before, "watchdog_tasks_reverted_total", { from: "ProcessingInProgress", to: "ProcessingFailed" })).toBe(0);
    expect(sample(before, "watchdog_sweep_duration_seconds_count", { dry_run: "false" })).toBeUndefined();
    expect(sample(before, "watchdog_last_sweep_completed_timestamp_seconds")).toBe(0);

    const job = await sweep();
    expect(await job.getState()).toBe("completed");
    // The replica records the completed sweep in Redis just after the job's result: wait for it.
    await expect.poll(async () => sample(await scrape(), "watchdog_last_sweep_completed_timestamp_seconds"), { timeout: 5000, interval: 50 }).toBeGreaterThan(0);

    const after = await scrape();
    expect(sample(after, "watchdog_tasks_reverted_total", { from: "ProcessingInProgress", to: "ProcessingFailed" })).toBe(2);
    expect(sample(after, "watchdog_tasks_reverted_total", { from: "QueuedForExport", to: "ToReview" })).toBe(1);
    expect(sample(after, "watchdog_tasks_reverted_total", { from: "Deleting", to: "ToReview" })).toBe(1);
    expect(sample(after, "watchdog_tasks_moved_to_history_total", { status: "Processed" })).toBe(1);
    for (const status of ["ProcessingInProgress", "QueuedForExport", "Deleting", "Processed"]) {
      expect(sample(after, "watchdog_tasks_stuck", { status })).toBe(0);
    }
    expect(sample(after, "watchdog_sweeps_total", { outcome: "completed", dry_run: "false" })).toBe(1);
    expect(sample(after, "watchdog_sweep_duration_seconds_count", { dry_run: "false" })).toBe(1);
    const last = sample(after, "watchdog_last_sweep_completed_timestamp_seconds")!;
    expect(Math.abs(last - Date.now() / 1000)).toBeLessThan(60);
    expect(sample(after, "watchdog_sweep_overdue")).toBe(0);
    expect(sample(after, "watchdog_queue_jobs", { queue: "task-watchdog", state: "completed" })).toBe(1);
    expect(sample(after, "watchdog_queue_jobs", { queue: "task-reprocess", state: "waiting" })).toBe(0);
  });

  it("a failed sweep is counted as failed, and a dry run is counted as a sweep but not as reverted tasks", async () => {
    await insertTasks(db, [{ status: S.ExportInProgress, ageSeconds: 2 * H }]);
    const before = await scrape();
    expect((await sweep({ dryRun: "yes" })).failedReason).toMatch(/^BadRequest: dryRun must be true or false/);
    expect((await sweep({ dryRun: true })).returnvalue).toMatchObject({ dryRun: true, reverted: 0, wouldRevert: 1 });
    const after = await scrape();
    expect(sample(after, "watchdog_sweeps_total", { outcome: "failed", dry_run: "false" })).toBe(1);
    expect(sample(after, "watchdog_sweeps_total", { outcome: "completed", dry_run: "true" })).toBe(1);
    expect(sample(after, "watchdog_queue_jobs", { queue: "task-watchdog", state: "failed" })).toBe(1);
    expect(sample(after, "watchdog_tasks_reverted_total", { from: "ExportInProgress", to: "ToReview" })).toBe(0);
    expect(sample(after, "watchdog_tasks_reverted_total", { from: "ProcessingInProgress", to: "ProcessingFailed" })).toBe(
      sample(before, "watchdog_tasks_reverted_total", { from: "ProcessingInProgress", to: "ProcessingFailed" }),
    );
  });

  it("carries the default process metrics, and no scrape-time collector failed", async () => {
    const text = await scrape();
    expect(sample(text, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(sample(text, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(text).not.toMatch(/^watchdog_metrics_collect_errors_total\{/m);
  });

  it("reports the oldest stuck task's age per status, each rule's threshold, and which build runs", async () => {
    await insertTasks(db, [
      { status: S.QueuedForProcessing, ageSeconds: 3 * H },
      { status: S.QueuedForProcessing, ageSeconds: 5 * H },
      { status: S.QueuedForProcessing, ageSeconds: 60 }, // healthy: not stuck
    ]);
    // The stuck counts are taken once per SWEEP_INTERVAL for the deployment: the interval passes (its lock expires).
    await redis.del(stuckCountsLockKey(app.prefix));
    await expect.poll(async () => sample(await scrape(), "watchdog_tasks_stuck", { status: "QueuedForProcessing" }), { timeout: 10_000, interval: 200 }).toBe(2);
    const text = await scrape();
    expect(sample(text, "watchdog_oldest_stuck_age_seconds", { status: "QueuedForProcessing" })).toBeGreaterThanOrEqual(5 * H);
    expect(sample(text, "watchdog_oldest_stuck_age_seconds", { status: "QueuedForProcessing" })).toBeLessThan(5 * H + 60);
    expect(sample(text, "watchdog_oldest_stuck_age_seconds", { status: "PreProcessingInProgress" })).toBe(0);
    expect(sample(text, "watchdog_rule_stuck_after_seconds", { status: "QueuedForProcessing", action: "revert" })).toBe(2 * H);
    expect(sample(text, "watchdog_rule_stuck_after_seconds", { status: "Processed", action: "moveToHistory" })).toBe(24 * H);
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(sample(text, "watchdog_build_info", { version, node: process.version, commit: "unknown" })).toBe(1);
  });
});

describe("the counters an alert takes increase() of", () => {
  // Prometheus' increase() counts nothing for the first sample of a series: a labelled counter that
  // appears only at its first count (value 1) shows no increase, so the alert on it missed the first
  // failure of every process (and a given-up batch whole). The series the alerts read are exported at 0.
  it("are exported at 0 before anything is counted: reprocess jobs failed, webhook deliveries failed and given up, reverts of each revert rule", async () => {
    const text = await scrape();
    expect(sample(text, "watchdog_reprocess_jobs_total", { outcome: "failed" })).toBe(0);
    // WatchdogRevertSpike: a process whose first sweep reverted hundreds at once (a restart in an outage) showed no increase.
    expect(sample(text, "watchdog_tasks_reverted_total", { from: "PreProcessingInProgress", to: "PreProcessingFailed" })).toBe(0);
    const webhooks = await startApp({ WEBHOOK_SECRETS_KEY: Buffer.alloc(32, 7).toString("base64"), EVENTS_QUEUE_ENABLED: "true" });
    try {
      const outbox = await (await fetch(`${webhooks.opsUrl}/metrics`)).text();
      expect(sample(outbox, "watchdog_events_delivered_total", { target: "webhook", outcome: "failed" })).toBe(0);
      expect(sample(outbox, "watchdog_events_delivered_total", { target: "webhook", outcome: "given_up" })).toBe(0);
      expect(sample(outbox, "watchdog_events_delivered_total", { target: "queue", outcome: "delivered" })).toBe(0);
    } finally {
      await webhooks.stop();
    }
  });
});

describe("docs/metrics.md", () => {
  it("lists every watchdog_ metric the worker exposes, in its table", async () => {
    const exposed = [...(await scrape()).matchAll(/^# HELP (watchdog_[a-z_]+) /gm)].map((m) => m[1]!);
    const documented = new Set([...readFileSync(new URL("../../docs/metrics.md", import.meta.url), "utf8").matchAll(/^\| `(watchdog_[a-z_]+)` \|/gm)].map((m) => m[1]!));
    expect(exposed.length).toBeGreaterThan(20);
    expect(exposed.filter((name) => !documented.has(name))).toEqual([]);
  });
});
