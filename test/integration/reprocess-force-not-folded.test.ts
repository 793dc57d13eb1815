// A forced reprocess request must not vanish into an unforced one for the same task that is still
// waiting: per-task deduplication once returned the waiting job (and its data, force missing), so
// the worker refused the task the operator had explicitly forced.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { createReprocessQueue } from "../../src/reprocess/reprocess-queue.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb, waitForLockWaiter } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { holdRowLock, reprocessEventsOf, reprocessHarness, reprocessRow, type ReprocessHarness } from "../support/reprocess-harness.js";
import { runCli } from "../support/worker-process.js";
import { ORG_7_TOKEN, startApp } from "./http-app.js";

const db = testDb();
let h: ReprocessHarness;

beforeEach(async () => {
  await resetTables(db);
  h = await reprocessHarness();
});
afterEach(() => h.close());
afterAll(() => db.$disconnect());

describe("a forced request while an unforced one for the same task waits", () => {
  it("CLI: is a job of its own with force in its data; the worker applies it, audited as forced", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 600 }]);
    const env = { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: h.prefix, LOG_LEVEL: "silent" };
    const run = async (args: string[]) => {
      const cli = runCli(["reprocess", "--task-id", String(id), ...args], env);
      return { code: (await cli.exited).code, stdout: cli.lines(), stderr: cli.stderr() };
    };
    const unforced = await run(["--requested-by", "alice"]);
    expect(unforced).toMatchObject({ code: 0, stdout: [{ enqueued: true }] });
    // The platform picks the task up before any worker ran the request: now only a forced request may restart it.
    await db.$executeRaw`UPDATE tasks SET status = ${S.ProcessingInProgress}::smallint WHERE id = ${id}`;
    const forced = await run(["--force", "--requested-by", "bob"]);
    expect(forced).toMatchObject({ code: 0, stdout: [{ enqueued: true }] });
    expect(forced.stdout[0]!.jobId).not.toBe(unforced.stdout[0]!.jobId);
    expect((await h.queue.getJob(forced.stdout[0]!.jobId as string))!.data).toMatchObject({ taskId: id, force: true, requestedBy: "bob" });

    h.startWorker(db, 1);
    await expect.poll(async () => (await reprocessEventsOf(db, id!)).length, { timeout: 15_000 }).toBe(1);
    expect(await reprocessEventsOf(db, id!)).toMatchObject([{ actor: "bob", from_status: S.ProcessingInProgress, details: { forced: true, guardOverridden: true } }]);
    expect((await reprocessRow(db, id!)).restart_count).toBe(1);
  });

  it("HTTP: force=true after a waiting unforced request gets a job of its own (X-Job-Id differs) carrying force", async () => {
    const app = await startApp();
    let lock: Awaited<ReturnType<typeof holdRowLock>> | undefined;
    try {
      const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 600, organizationId: 7 }]);
      const patch = (query: string) => fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${id}${query}`, { method: "PATCH", headers: { authorization: `Bearer ${ORG_7_TOKEN}` } });
      // The app runs a worker: the task's row is locked elsewhere, so the first request stays active (its deduplication key held).
      lock = await holdRowLock("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", [id]);
      const first = await patch("");
      await waitForLockWaiter(db);
      const second = await patch("&force=true");
      const third = await patch("&force=true");
      expect([first.status, second.status, third.status]).toEqual([202, 202, 202]);
      expect(second.headers.get("x-job-id")).not.toBe(first.headers.get("x-job-id"));
      expect(third.headers.get("x-job-id")).toBe(second.headers.get("x-job-id"));
      const queue = createReprocessQueue(h.connection, app.prefix);
      expect((await queue.getJob(second.headers.get("x-job-id")!))!.data).toMatchObject({ taskId: id, force: true });
      await queue.close();
    } finally {
      await lock?.release();
      await app.stop();
    }
  });
});
