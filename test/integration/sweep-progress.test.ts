// A sweep draining a backlog shows it moving on its job: progress after every committed batch,
// one job log line per batch (Bull Board shows both).
import { QueueEvents } from "bullmq";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { createRedis } from "../../src/platform/redis.js";
import { createSweepQueue, enqueueSweep } from "../../src/sweep/sweep-queue.js";
import { createSweepWorker } from "../../src/sweep/sweep-worker.js";
import { captureLogger } from "../support/reprocess-harness.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const db = testDb();
const H = 3600;
let prefix: string;
let connection: ReturnType<typeof createRedis>;
let queue: ReturnType<typeof createSweepQueue>;
let events: QueueEvents;

beforeEach(async () => {
  await resetTables(db);
  prefix = uniquePrefix();
  connection = createRedis(testRedisUrl());
  queue = createSweepQueue(connection, prefix);
  events = new QueueEvents(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix });
  await events.waitUntilReady();
});
afterEach(async () => {
  await events.close();
  await queue.close();
  await connection.quit();
  await deletePrefix(prefix);
});
afterAll(() => db.$disconnect());

describe("when a sweep drains a backlog in batches", () => {
  it("then its progress moves batch by batch and its log holds one line per batch", async () => {
    await insertTasks(db, [
      ...Array.from({ length: 2500 }, () => ({ status: S.QueuedForProcessing, ageSeconds: 3 * H })),
      ...Array.from({ length: 300 }, () => ({ status: S.QueuedForExport, ageSeconds: 3 * H })),
    ]);
    const seen: unknown[] = [];
    events.on("progress", ({ data }) => seen.push(data));
    // A backlog on purpose, not an outage: the hold (sweep-hold.test.ts) is off for it.
    const worker = createSweepWorker({ db, rules: buildRules({ QueuedForProcessing: { hold: false } }), batchSize: 1000, logger: captureLogger().logger, connection, prefix, stopping: () => false });
    try {
      const job = await enqueueSweep(queue, {});
      const result = await job.waitUntilFinished(events, 30_000);
      expect(result).toMatchObject({ reverted: 2800 });

      const done = (await queue.getJob(job.id!))!;
      expect(done.progress).toEqual({ done: 2800, batches: 4, byStatus: { QueuedForProcessing: { done: 2500, batches: 3 }, QueuedForExport: { done: 300, batches: 1 } } });
      const { logs } = await queue.getJobLogs(job.id!);
      expect(logs).toEqual([
        "QueuedForProcessing: batch 1, 1000 reverted (1000 so far)",
        "QueuedForProcessing: batch 2, 1000 reverted (2000 so far)",
        "QueuedForProcessing: batch 3, 500 reverted (2500 so far)",
        "QueuedForExport: batch 1, 300 reverted (300 so far)",
      ]);
      // Every step was published as it happened, not only the last.
      await expect.poll(() => seen.map((p) => (p as { done: number }).done), { timeout: 5000, interval: 50 }).toEqual([1000, 2000, 2500, 2800]);
    } finally {
      await worker.close();
    }
  });
});
