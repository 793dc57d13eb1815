// A database outage during a reprocess request: the attempt fails, nothing is ever half-applied,
// BullMQ retries with backoff, and the request takes effect exactly once. The outage is
// staged with a TCP proxy in front of the shared PostgreSQL (test/support/tcp-proxy.ts): only this
// test's worker loses its database; everyone else's tests keep theirs.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDb, type Db } from "../../src/platform/db/client.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { enqueueReprocess } from "../../src/reprocess/reprocess-queue.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb, waitForLockWaiter } from "../support/db.js";
import { addAssignments, assignmentsOf, holdRowLock, reprocessEventsOf, reprocessHarness, reprocessRow, type ReprocessHarness } from "../support/reprocess-harness.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";

const db = testDb();
const EDITS = { fields: { total: "12.50" } };
let h: ReprocessHarness;
let proxy: TcpProxy;
let workerDb: Db;

beforeEach(async () => {
  await resetTables(db);
  h = await reprocessHarness();
  proxy = await startTcpProxy();
  workerDb = createDb(proxy.url(testDatabaseUrl()), { max: 2 });
});
afterEach(async () => {
  await h.close();
  await workerDb.$disconnect();
  await proxy.close();
});
afterAll(() => db.$disconnect());

/** Resolves once the job is back in `delayed` after a failed attempt (polling Redis state, not the clock). */
async function waitForRetryScheduled(h: ReprocessHarness, jobId: string, attemptsMade: number): Promise<void> {
  for (const deadline = Date.now() + 15_000; ; ) {
    const job = (await h.queue.getJob(jobId))!;
    if (job.attemptsMade >= attemptsMade && (await job.getState()) === "delayed") return;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not reach attempt ${attemptsMade} (at ${job.attemptsMade}, ${await job.getState()})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function expectUntouched(taskId: number) {
  expect(await reprocessRow(db, taskId)).toMatchObject({ status: S.ToReview, restart_count: 0, edits: EDITS, location: "INBOX" });
  expect(await assignmentsOf(db, taskId)).toEqual([
    { position: 1, status: "COMPLETED" },
    { position: 2, status: "IN_PROGRESS" },
  ]);
  expect(await reprocessEventsOf(db, taskId)).toEqual([]);
}

/** The task as the request leaves it: every part of the restart, or (`applied` false) none of it. */
async function expectWhole(taskId: number, applied: boolean) {
  if (!applied) return expectUntouched(taskId);
  expect(await reprocessRow(db, taskId)).toMatchObject({ status: S.QueuedForPreProcessing, restart_count: 1, edits: null, location: "INBOX" });
  expect(await assignmentsOf(db, taskId)).toEqual([
    { position: 1, status: "PENDING" },
    { position: 2, status: "PENDING" },
  ]);
  expect(await reprocessEventsOf(db, taskId)).toHaveLength(1);
}

describe("when the database goes away in the middle of a reprocess statement", () => {
  it("the attempt fails with nothing half-applied, and the retry after the database is back makes it take effect once", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, edits: EDITS }]);
    await addAssignments(db, id!, ["COMPLETED", "IN_PROGRESS"]);
    // Park the worker inside its transaction: it has locked the task and is writing, and waits on
    // an assignment row this test holds.
    const lock = await holdRowLock("SELECT 1 FROM task_assignments WHERE task_id = $1 AND position = 2 FOR UPDATE", [id]);
    try {
      h.startWorker(workerDb);
      const job = await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice" });
      await waitForLockWaiter(db);

      proxy.cut();
      // The parked statement may still run to its end in the server (it is its own transaction),
      // but the worker never hears of it: the attempt fails either way.
      await lock.release();
      await waitForRetryScheduled(h, job.id!, 1);
      const committedAnyway = (await reprocessEventsOf(db, id!)).length === 1;
      await expectWhole(id!, committedAnyway);
      const failedLine = h.lines.find((l) => l.jobId === job.id && l.attempt === 1)!;
      expect(failedLine).toMatchObject({ level: 40, outcome: "retrying", msg: "reprocess attempt failed; will retry" });

      proxy.restore();
      expect(await h.finished(job)).toEqual({ taskId: id, restartCount: 1, status: S.QueuedForPreProcessing });
      const done = (await h.queue.getJob(job.id!))!;
      expect(done.attemptsMade).toBe(2);
      // The retry either finds the committed event (and changes nothing) or applies the request now.
      expect(h.lines.filter((l) => l.jobId === job.id).map((l) => l.outcome)).toEqual(["retrying", committedAnyway ? "alreadyApplied" : "applied"]);
    } finally {
      await lock.release();
    }
    expect(await reprocessRow(db, id!)).toMatchObject({ status: S.QueuedForPreProcessing, restart_count: 1, edits: null });
    expect(await assignmentsOf(db, id!)).toEqual([
      { position: 1, status: "PENDING" },
      { position: 2, status: "PENDING" },
    ]);
    expect(await reprocessEventsOf(db, id!)).toMatchObject([{ actor: "alice", details: { discardedEdits: EDITS } }]);
  });
});

describe("when the database is unreachable as the request arrives", () => {
  it("every attempt during the outage fails and is retried with growing delays; once it is back the request applies once", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, edits: EDITS }]);
    await addAssignments(db, id!, ["COMPLETED", "IN_PROGRESS"]);
    proxy.cut();
    h.startWorker(workerDb);
    const job = await enqueueReprocess(h.queue, { taskId: id });
    await waitForRetryScheduled(h, job.id!, 2); // backoff 1 s, then 2 s
    await expectUntouched(id!);
    const [first, second] = h.lines.filter((l) => l.jobId === job.id);
    expect([first?.attempt, second?.attempt]).toEqual([1, 2]);

    proxy.restore();
    expect(await h.finished(job)).toEqual({ taskId: id, restartCount: 1, status: S.QueuedForPreProcessing });
    expect((await h.queue.getJob(job.id!))!.attemptsMade).toBe(3);
    expect(await reprocessEventsOf(db, id!)).toHaveLength(1);
  });
});
