// `watchdog reprocess` as an operator runs it (a child process), against a worker of the test's own.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { reprocessEventsOf, reprocessHarness, reprocessRow, type ReprocessHarness } from "../support/reprocess-harness.js";
import { runCli } from "../support/worker-process.js";

const db = testDb();
let h: ReprocessHarness;
let env: Record<string, string>;

beforeEach(async () => {
  await resetTables(db);
  h = await reprocessHarness();
  env = { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: h.prefix, LOG_LEVEL: "silent" };
});
afterEach(() => h.close());
afterAll(() => db.$disconnect());

async function run(args: string[]) {
  const cli = runCli(["reprocess", ...args], env);
  const exit = await cli.exited;
  return { code: exit.code, stderr: cli.stderr(), stdout: cli.lines() };
}

describe("watchdog reprocess", () => {
  it("--task-id N --wait: the worker restarts the task and the command prints the outcome", async () => {
    const [id] = await insertTasks(db, [{ status: S.ExportFailed, ageSeconds: 60, edits: { a: 1 } }]);
    h.startWorker(db);
    const out = await run(["--task-id", String(id), "--requested-by", "ops:carol", "--wait"]);
    expect(out).toMatchObject({ code: 0, stderr: "" });
    expect(out.stdout).toEqual([{ jobId: expect.any(String), taskId: id, restartCount: 1, status: S.QueuedForPreProcessing }]);
    expect(await reprocessEventsOf(db, id!)).toMatchObject([{ actor: "ops:carol", from_status: S.ExportFailed }]);
  });

  it("--external-id X --organization-id N without --wait enqueues once per task: asking again while it waits returns the same job", async () => {
    const [id] = await insertTasks(db, [{ status: S.ExportFailed, ageSeconds: 60, organizationId: 4, externalId: "PO-1" }]);
    const first = await run(["--external-id", "PO-1", "--organization-id", "4"]);
    const second = await run(["--external-id", "PO-1", "--organization-id", "4"]);
    expect(first).toMatchObject({ code: 0, stdout: [{ enqueued: true, queue: "task-reprocess", taskId: id }] });
    expect(second.stdout[0]!.jobId).toBe(first.stdout[0]!.jobId);
    const job = (await h.queue.getJob(first.stdout[0]!.jobId as string))!;
    expect(job.data).toEqual({ externalId: "PO-1", organizationId: 4, requestedBy: expect.stringMatching(/^cli/) });
    expect(await h.queue.getJobCounts("waiting")).toEqual({ waiting: 1 });
    expect((await reprocessRow(db, id!)).restart_count).toBe(0); // nothing happens without a worker
  });

  it("an unknown task, or another organization's, is NotFound with exit code 3 and nothing is enqueued", async () => {
    const [theirs] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 1, externalId: "ONLY-IN-1" }]);
    const cases = [
      { args: ["--task-id", "999999"], message: "watchdog: NotFound: no task 999999\n" },
      { args: ["--external-id", "ONLY-IN-1", "--organization-id", "2"], message: 'watchdog: NotFound: no task with externalId "ONLY-IN-1" in organization 2\n' },
      { args: ["--task-id", String(theirs), "--organization-id", "2"], message: `watchdog: NotFound: no task ${theirs} in organization 2\n` },
    ];
    for (const { args, message } of cases) {
      expect(await run(args)).toMatchObject({ code: 3, stderr: message, stdout: [] });
    }
    expect(await h.queue.getJobCounts("waiting", "failed")).toEqual({ waiting: 0, failed: 0 });
  });

  it("a bad request is rejected with exit code 2 before anything connects", async () => {
    expect(await run([])).toMatchObject({ code: 2, stderr: "watchdog: BadRequest: say which task: --task-id N, or --external-id X --organization-id N\n" });
    expect(await run(["--external-id", "PO-1"])).toMatchObject({ code: 2, stderr: expect.stringContaining("BadRequest: --external-id needs --organization-id") });
    expect(await run(["--task-id", "1", "--external-id", "PO-1", "--organization-id", "4"])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("BadRequest: give either taskId or externalId, not both"),
    });
    expect(await run(["--task-id", "0"])).toMatchObject({ code: 2, stderr: expect.stringContaining("argument '0' is invalid. must be a whole number from 1 to 2147483647") });
  });

  it("--wait without a worker gives up after --timeout with a hint, and the request stays queued", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60 }]);
    const out = await run(["--task-id", String(id), "--wait", "--timeout", "PT1S"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/did not finish within PT1S; it stays queued\. Is a worker running/);
    expect(await h.queue.getJobCounts("waiting")).toEqual({ waiting: 1 });
  });
});
