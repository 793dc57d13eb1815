// Sweep job data through the real worker: a typo never turns a requested preview into a real
// sweep. Each bad job fails once with BadRequest (never retried) and changes nothing.
import type { Job } from "bullmq";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { enqueueSweepCommand } from "../../src/cli/commands/sweep.js";
import { testConfig } from "../support/config.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createRedis } from "../../src/platform/redis.js";
import { createSweepQueue } from "../../src/sweep/sweep-queue.js";
import { createSweepWorker } from "../../src/sweep/sweep-worker.js";
import { SWEEP_JOB } from "../../src/platform/queue-names.js";
import { captureLogger } from "../support/reprocess-harness.js";
import { getTask, insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const db = testDb();
const H = 3600;
let prefix: string;
let connection: ReturnType<typeof createRedis>;
let queue: ReturnType<typeof createSweepQueue>;
let worker: ReturnType<typeof createSweepWorker>;

beforeEach(async () => {
  await resetTables(db);
  prefix = uniquePrefix();
  connection = createRedis(testRedisUrl());
  queue = createSweepQueue(connection, prefix);
  worker = createSweepWorker({ db, rules: buildRules(), batchSize: 100, logger: captureLogger().logger, connection, prefix, stopping: () => false });
});
afterEach(async () => {
  await worker.close();
  await queue.close();
  await connection.quit();
  await deletePrefix(prefix);
});
afterAll(() => db.$disconnect());

async function finished(job: Job) {
  await expect.poll(() => job.getState(), { timeout: 10_000, interval: 50 }).toMatch(/^(completed|failed)$/);
  return (await queue.getJob(job.id!))!;
}

describe("when sweep job data has a typo or the wrong shape", () => {
  it.each([
    { data: { dryrun: true }, message: /unknown field "dryrun"; allowed: dryRun, release, releasedBy/ },
    { data: { dry_run: true }, message: /unknown field "dry_run"/ },
    { data: "dry-run", message: /job data must be an object .*, got the string "dry-run"/ },
    { data: [true], message: /job data must be an object .*, got an array/ },
    { data: { dryRun: "yes" }, message: /dryRun must be true or false, got the string "yes"/ },
    { data: { release: ["QueuedForProcessing"] }, message: /releasedBy is needed with release/ },
    { data: { release: ["Nonsense"], releasedBy: "ann" }, message: /release\[0\] must be a status name or code that has a rule \(.*QueuedForProcessing.*\), got the string "Nonsense"/ },
    { data: { release: ["ToReview"], releasedBy: "ann" }, message: /release\[0\] names ToReview, which has no rule/ },
    { data: { release: ["QueuedForProcessing"], releasedBy: "ann\u0000" }, message: /releasedBy must not contain control characters/ },
    { data: { release: ["QueuedForProcessing"], releasedBy: "x".repeat(201) }, message: /releasedBy must be at most 200 characters/ },
  ])("then $data fails once with BadRequest and no task changes", async ({ data, message }) => {
    const [stuck] = await insertTasks(db, [{ status: S.QueuedForProcessing, ageSeconds: 3 * H }]);
    const job = await queue.add(SWEEP_JOB, data as never, { attempts: 3 });
    const done = await finished(job);
    expect(await done.getState()).toBe("failed");
    expect(done.failedReason).toMatch(/^BadRequest: /);
    expect(done.failedReason).toMatch(message);
    expect(done.attemptsMade).toBe(1);
    expect(await getTask(db, stuck!)).toMatchObject({ status: S.QueuedForProcessing, warning: false });
  });
});

describe("when sweep job data is well formed", () => {
  it("then the scheduler's {} and a manual {} sweep for real", async () => {
    const [stuck] = await insertTasks(db, [{ status: S.QueuedForProcessing, ageSeconds: 3 * H }]);
    const done = await finished(await queue.add(SWEEP_JOB, {}));
    expect(await done.getState()).toBe("completed");
    expect(done.returnvalue).toMatchObject({ dryRun: false, reverted: 1 });
    expect(await getTask(db, stuck!)).toMatchObject({ status: S.ProcessingFailed });
  });

  it("then { dryRun: true } changes nothing", async () => {
    const [stuck] = await insertTasks(db, [{ status: S.QueuedForProcessing, ageSeconds: 3 * H }]);
    const done = await finished(await queue.add(SWEEP_JOB, { dryRun: true }));
    expect(done.returnvalue).toMatchObject({ dryRun: true });
    expect(await getTask(db, stuck!)).toMatchObject({ status: S.QueuedForProcessing });
  });
});

describe("when an operator releases a hold with `watchdog sweep --release`", () => {
  const command = (options: { release?: string[]; by?: string }) => enqueueSweepCommand(testConfig(prefix), buildRules(), { dryRun: false, wait: false, timeoutMs: 1000, ...options });

  it("then the job carries release and releasedBy, checked before anything is enqueued", async () => {
    const printed: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((text: string) => void printed.push(text));
    try {
      await worker.close();
      await command({ release: ["QueuedForProcessing", "41"], by: "ann" });
    } finally {
      log.mockRestore();
    }
    const [job] = await queue.getJobs(["waiting"]);
    expect(job!.data).toEqual({ dryRun: false, release: ["QueuedForProcessing", "41"], releasedBy: "ann" });
    expect(JSON.parse(printed[0]!)).toMatchObject({ enqueued: true, release: ["QueuedForProcessing", "41"], releasedBy: "ann" });
  });

  it.each([
    [{ release: ["QueuedForProcessing"] }, /^BadRequest: --release needs --by <name>/],
    [{ by: "ann" }, /^BadRequest: --by goes with --release/],
    [{ release: ["ToReview"], by: "ann" }, /^BadRequest: --release names ToReview, which has no rule/],
    [{ release: ["QueuedForProcessing"], by: " " }, /^BadRequest: --by must not be empty/],
  ])("then %j is a usage error (exit 2) and nothing is enqueued", async (options, message) => {
    await expect(command(options)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(message) });
    expect(await queue.count()).toBe(0);
  });
});
