// A job whose stored data is not JSON (a producer in another language, a hand-edited key) must
// fail at once as a BadRequest, like any other malformed job — not sit "active" until BullMQ's
// stalled check gives up on it, retried meanwhile. Both queues, the production workers.
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { REPROCESS_JOB, SWEEP_JOB, SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { REPROCESS_JOB_OPTIONS } from "../../src/reprocess/reprocess-queue.js";
import { createSweepWorker } from "../../src/sweep/sweep-worker.js";
import { resetTables, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { reprocessHarness, type ReprocessHarness } from "../support/reprocess-harness.js";

const db = testDb();
let h: ReprocessHarness;
let raw: Redis;

beforeEach(async () => {
  await resetTables(db);
  h = await reprocessHarness();
  raw = new Redis(testRedisUrl());
});
afterEach(async () => {
  await raw.quit();
  await h.close();
});
afterAll(() => db.$disconnect());

const NOT_JSON = ["{taskId: 1}", "not json at all", '{"taskId": 1', "\u0000\u0001", "<xml/>"];

/** Adds a job, then overwrites its stored data with text that is not JSON, before any worker runs. */
async function addUnparsable(queue: Queue, name: string, text: string, options: object = {}): Promise<string> {
  const job = await queue.add(name, {}, options);
  await raw.hset(`${h.prefix}:${queue.name}:${job.id}`, "data", text);
  return job.id!;
}

/** The job's hash as stored (Queue.getJob would parse the data, and fail on it). */
const stored = (queue: Queue, id: string) => raw.hgetall(`${h.prefix}:${queue.name}:${id}`);

describe("job data that is not JSON", () => {
  it("on task-reprocess: each job fails once, BadRequest, within seconds; none stays active", async () => {
    const ids = [];
    for (const text of NOT_JSON) ids.push(await addUnparsable(h.queue, REPROCESS_JOB, text, REPROCESS_JOB_OPTIONS));
    h.startWorker(db, 2);
    await expect.poll(async () => (await h.queue.getJobCounts("failed")).failed, { timeout: 10_000 }).toBe(NOT_JSON.length);
    expect(await h.queue.getJobCounts("active", "waiting", "delayed", "completed")).toEqual({ active: 0, waiting: 0, delayed: 0, completed: 0 });
    for (const id of ids) expect(await stored(h.queue, id)).toMatchObject({ failedReason: expect.stringMatching(/^BadRequest: job data is not JSON \(.*\): send a JSON object such as \{"taskId": 42\}$/), atm: "1" });
  });

  it("on task-watchdog: the sweep job fails once, BadRequest, and no sweep runs", async () => {
    const queue = new Queue(SWEEP_QUEUE, { connection: h.connection, prefix: h.prefix });
    const id = await addUnparsable(queue, SWEEP_JOB, "dryRun=true", { attempts: 3 });
    const worker = createSweepWorker({ db, rules: buildRules(), batchSize: 100, logger: h.logger, connection: h.connection, prefix: h.prefix, stopping: () => false });
    try {
      await expect.poll(async () => (await queue.getJobCounts("failed")).failed, { timeout: 10_000 }).toBe(1);
      expect(await stored(queue, id)).toMatchObject({ failedReason: expect.stringMatching(/^BadRequest: job data is not JSON .*it begins "dryRun=true"/), atm: "1" });
      expect(h.lines.some((l) => l.msg === "sweep finished")).toBe(false);
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});
