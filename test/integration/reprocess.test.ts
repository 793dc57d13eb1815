// The task-reprocess queue end to end against real Redis and PostgreSQL: the effect on the row,
// its assignments and the audit trail; rejected requests; organization isolation; exactly once.
import { randomUUID } from "node:crypto";
import { Worker, type Job } from "bullmq";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog } from "../../src/app.js";
import { findTask } from "../../src/reprocess/sql/find-task.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { KEEP_COMPLETED, KEEP_FAILED, REPROCESS_JOB } from "../../src/platform/queue-names.js";
import { enqueueReprocess, REPROCESS_ATTEMPTS, REPROCESS_BACKOFF, reprocessDedupeId, type ReprocessJobData, type ReprocessResult } from "../../src/reprocess/reprocess-queue.js";
import { createReprocessProcessor, reprocessRequestId } from "../../src/reprocess/reprocess-worker.js";
import { testConfig } from "../support/config.js";
import { holdTransaction, insertTasks, resetTables, testDb, waitForLockWaiter } from "../support/db.js";
import {
  addAssignments,
  assignmentsOf,
  baseWorkerOptions,
  holdRowLock,
  reprocessEventsOf,
  reprocessHarness,
  reprocessRow,
  type ReprocessHarness,
} from "../support/reprocess-harness.js";

const db = testDb();
let h: ReprocessHarness;

beforeEach(async () => {
  await resetTables(db);
  h = await reprocessHarness();
});
afterEach(() => h.close());
afterAll(() => db.$disconnect());

const EDITS = { fields: { total: "12.50" }, by: "bob" };

describe("when a reprocess request names an existing task", () => {
  it("by id: the task restarts at QueuedForPreProcessing with its edits, warning and workflow reset, and one REPROCESSED event keeps what was discarded", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 5 * 3600, edits: EDITS }]);
    await db.$executeRaw`UPDATE tasks SET warning = true, warning_reason = 'stuck in ExportInProgress for 2 h', restart_count = 2 WHERE id = ${id}::int`;
    await addAssignments(db, id!, ["COMPLETED", "IN_PROGRESS", "PENDING", "REJECTED"]);
    h.startWorker(db);

    const job = await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice@example.com" });
    const result = await h.finished(job);

    expect(result).toEqual({ taskId: id, restartCount: 3, status: S.QueuedForPreProcessing });
    const row = await reprocessRow(db, id!);
    expect(row).toMatchObject({
      status: S.QueuedForPreProcessing,
      previous_status: S.ToReview,
      restart_count: 3,
      location: "INBOX",
      moved_to_history_at: null,
      warning: false,
      warning_reason: null,
      edits: null,
      original_payload: { pages: 1 },
    });
    expect(row.status_age_seconds).toBeLessThan(10);
    expect(row.pre_processing_age_seconds).toBeLessThan(10);
    expect(await assignmentsOf(db, id!)).toEqual([1, 2, 3, 4].map((position) => ({ position, status: "PENDING" })));

    const events = await reprocessEventsOf(db, id!);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: "REPROCESSED",
      from_status: S.ToReview,
      to_status: S.QueuedForPreProcessing,
      actor: "alice@example.com",
      reason: "reprocess requested by alice@example.com: ToReview -> QueuedForPreProcessing, edits discarded",
      request_id: reprocessRequestId(job),
      details: {
        restartCount: 3,
        fromLocation: "INBOX",
        discardedEdits: EDITS,
        discardedWarning: true,
        discardedWarningReason: "stuck in ExportInProgress for 2 h",
        assignmentsBefore: [
          { position: 1, status: "COMPLETED", userId: "user-1" },
          { position: 2, status: "IN_PROGRESS", userId: "user-2" },
          { position: 3, status: "PENDING", userId: "user-3" },
          { position: 4, status: "REJECTED", userId: "user-4" },
        ].map((a) => expect.objectContaining(a)),
      },
    });

    const line = h.lines.filter((l) => l.jobId === job.id);
    expect(line).toHaveLength(1);
    expect(line[0]).toMatchObject({ level: 30, msg: "task reprocessed", outcome: "applied", taskId: id, restartCount: 3, status: 30, fromStatus: 50, actor: "alice@example.com" });
  });

  it("by external id within its organization: only that organization's task with that external id restarts", async () => {
    const [mine, sameExternalOtherOrg, otherOfMine] = await insertTasks(db, [
      { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7, externalId: "INV-7" },
      { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 8, externalId: "INV-7" },
      { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7, externalId: "INV-8" },
    ]);
    h.startWorker(db);
    const result = await h.finished(await enqueueReprocess(h.queue, { externalId: "INV-7", organizationId: 7 }));
    expect(result).toEqual({ taskId: mine, restartCount: 1, status: S.QueuedForPreProcessing });
    expect((await reprocessRow(db, sameExternalOtherOrg!)).restart_count).toBe(0);
    expect((await reprocessRow(db, otherOfMine!)).restart_count).toBe(0);
    expect(await reprocessEventsOf(db, mine!)).toMatchObject([{ actor: "unknown requester", from_status: S.ProcessingFailed }]);
  });

  it("from history: a finished task comes back to the inbox", async () => {
    const [id] = await insertTasks(db, [{ status: S.Processed, ageSeconds: 30 * 24 * 3600, location: "HISTORY", edits: EDITS }]);
    await db.$executeRaw`UPDATE tasks SET moved_to_history_at = now() - interval '29 days' WHERE id = ${id}::int`;
    h.startWorker(db);
    const result = await h.finished(await enqueueReprocess(h.queue, { taskId: id }));
    expect(result).toEqual({ taskId: id, restartCount: 1, status: S.QueuedForPreProcessing });
    expect(await reprocessRow(db, id!)).toMatchObject({ location: "INBOX", moved_to_history_at: null, status: S.QueuedForPreProcessing, previous_status: S.Processed, edits: null });
    const [event] = await reprocessEventsOf(db, id!);
    expect(event).toMatchObject({ from_status: S.Processed, details: { fromLocation: "HISTORY", discardedEdits: EDITS } });
    expect(event!.reason).toContain("Processed (in history) -> QueuedForPreProcessing");
  });

  it("already QueuedForPreProcessing for hours: the status clock restarts too, so the next sweep does not revert the fresh restart", async () => {
    const [id] = await insertTasks(db, [{ status: S.QueuedForPreProcessing, ageSeconds: 3 * 3600 }]);
    h.startWorker(db);
    await h.finished(await enqueueReprocess(h.queue, { taskId: id }));
    const row = await reprocessRow(db, id!);
    expect(row).toMatchObject({ status: S.QueuedForPreProcessing, restart_count: 1 });
    expect(row.status_age_seconds).toBeLessThan(10);
  });
});

describe("when the task is in a status this version does not know (a newer platform's)", () => {
  it("the restart applies and the reason names the code, instead of failing every attempt on a NULL reason", async () => {
    const [id] = await insertTasks(db, [{ status: 55, ageSeconds: 60 }]);
    h.startWorker(db);
    const job = await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice" });
    expect(await h.finished(job)).toEqual({ taskId: id, restartCount: 1, status: S.QueuedForPreProcessing });
    expect((await h.queue.getJob(job.id!))!.attemptsMade).toBe(1);
    expect(await reprocessEventsOf(db, id!)).toMatchObject([{ from_status: 55, reason: "reprocess requested by alice: status 55 -> QueuedForPreProcessing, edits discarded" }]);
  });
});

describe("the worker process", () => {
  it("startWatchdog runs the reprocess worker: requests on its QUEUE_PREFIX are applied, and close() stops it", async () => {
    const ids = await insertTasks(db, [1, 2, 3].map(() => ({ status: S.ProcessingFailed, ageSeconds: 60 })));
    const watchdog = await startWatchdog(testConfig(h.prefix, { REPROCESS_CONCURRENCY: "2" }), buildRules(), h.logger);
    try {
      const jobs = await Promise.all(ids.map((taskId) => enqueueReprocess(h.queue, { taskId }, { dedupeTaskId: taskId })));
      expect(await Promise.all(jobs.map((job) => h.finished(job)))).toEqual(ids.map((taskId) => ({ taskId, restartCount: 1, status: S.QueuedForPreProcessing })));
    } finally {
      await watchdog.close();
      await watchdog.close();
    }
    expect(h.lines.filter((l) => l.msg === "task reprocessed")).toHaveLength(3);
  });
});

describe("when a request can never succeed, it fails once, at once, without retries", () => {
  const bad: { name: string; data: unknown; reason: string }[] = [
    { name: "neither id", data: { requestedBy: "alice" }, reason: "BadRequest: neither taskId nor externalId given" },
    { name: "externalId without organizationId", data: { externalId: "INV-7" }, reason: "BadRequest: externalId needs organizationId" },
    { name: "taskId as a string", data: { taskId: "42" }, reason: 'BadRequest: taskId must be a JSON number, got the string "42"' },
    { name: "fractional taskId", data: { taskId: 4.2 }, reason: "BadRequest: taskId must be a whole number from 1 to 2147483647, got 4.2" },
    { name: "non-positive taskId", data: { taskId: 0 }, reason: "BadRequest: taskId must be a whole number from 1 to 2147483647, got 0" },
    { name: "taskId beyond integer", data: { taskId: 2147483648 }, reason: "BadRequest: taskId must be a whole number from 1 to 2147483647, got 2147483648" },
    { name: "organizationId as a string", data: { externalId: "INV-7", organizationId: "7" }, reason: "BadRequest: organizationId must be a JSON number" },
    { name: "a typo in a field name", data: { taskID: 1 }, reason: 'BadRequest: unknown field "taskID"' },
    { name: "a NUL as externalId", data: { externalId: "\u0000", organizationId: 7 }, reason: "BadRequest: externalId must not contain NUL (U+0000)" },
    { name: "a NUL inside externalId", data: { externalId: "INV-7\u0000", organizationId: 7 }, reason: "BadRequest: externalId must not contain NUL (U+0000)" },
    { name: "a NUL in requestedBy", data: { taskId: 1, requestedBy: "\u0000" }, reason: "BadRequest: requestedBy must not contain control characters" },
    { name: "no task with that id", data: { taskId: 999_999 }, reason: "NotFound: no task 999999" },
    { name: "no task with that external id", data: { externalId: "NOPE", organizationId: 7 }, reason: 'NotFound: no task with externalId "NOPE" in organization 7' },
  ];

  it.each(bad)("$name → $reason", async ({ data, reason }) => {
    const [untouched] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 7, externalId: "INV-7", edits: EDITS }]);
    h.startWorker(db);
    const job = await enqueueReprocess(h.queue, data as ReprocessJobData);
    await expect(h.finished(job)).rejects.toThrow(reason);

    const failed = (await h.queue.getJob(job.id!))!;
    expect(await failed.getState()).toBe("failed");
    expect(failed.opts.attempts).toBe(REPROCESS_ATTEMPTS); // retries were allowed, and not used
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason.startsWith(reason.split(":")[0]! + ": ")).toBe(true);
    expect(failed.failedReason).toContain(reason);
    expect(await reprocessRow(db, untouched!)).toMatchObject({ status: S.ToReview, restart_count: 0, edits: EDITS });
    expect(await reprocessEventsOf(db, untouched!)).toEqual([]);
    expect(h.lines.filter((l) => l.jobId === job.id)).toMatchObject([{ level: 40, msg: "reprocess rejected", outcome: "rejected", reason: failed.failedReason }]);
  });

  it("an unknown job name on the queue is a BadRequest too", async () => {
    h.startWorker(db);
    const job = await h.queue.add("restart" as typeof REPROCESS_JOB, { taskId: 1 }, { attempts: 3 });
    await expect(h.finished(job)).rejects.toThrow('BadRequest: unknown job name "restart" on task-reprocess; the only job is "reprocess"');
    expect((await h.queue.getJob(job.id!))!.attemptsMade).toBe(1);
  });
});

describe("organization isolation", () => {
  it("a request scoped to one organization never reaches another organization's task, by external id or by id", async () => {
    const [theirs] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 1, externalId: "ONLY-IN-1", edits: EDITS }]);
    h.startWorker(db);
    await expect(h.finished(await enqueueReprocess(h.queue, { externalId: "ONLY-IN-1", organizationId: 2 }))).rejects.toThrow('NotFound: no task with externalId "ONLY-IN-1" in organization 2');
    await expect(h.finished(await enqueueReprocess(h.queue, { taskId: theirs, organizationId: 2 }))).rejects.toThrow(`NotFound: no task ${theirs} in organization 2`);
    expect(await reprocessRow(db, theirs!)).toMatchObject({ status: S.ToReview, restart_count: 0, edits: EDITS });
    expect(await reprocessEventsOf(db, theirs!)).toEqual([]);

    expect(await findTask(db, { externalId: "ONLY-IN-1", organizationId: 2 })).toBeNull();
    expect(await findTask(db, { externalId: "ONLY-IN-1", organizationId: 1 })).toMatchObject({ id: theirs, organizationId: 1, workspaceId: 1, status: S.ToReview });
    expect(await findTask(db, { taskId: theirs! })).toMatchObject({ id: theirs, organizationId: 1, statusAgeSeconds: expect.closeTo(60, -1) });
    expect(await findTask(db, { taskId: 2147483647 })).toBeNull();
  });
});

describe("exactly once", () => {
  it("enqueued jobs retry faults for over an hour (24 attempts, the capped backoff the worker knows) and are kept for a bounded time and count", async () => {
    const job = await enqueueReprocess(h.queue, { taskId: 1 });
    expect(job.opts).toMatchObject({ attempts: REPROCESS_ATTEMPTS, backoff: REPROCESS_BACKOFF, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED });
    expect(job.opts).toMatchObject({ attempts: 24, backoff: { type: "reprocess-capped-exponential", delay: 1000 } });
  });

  it("when the worker dies after the commit and BullMQ redelivers the job, the restart applies once and the job returns the first delivery's result", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, edits: EDITS }]);
    const processor = createReprocessProcessor({ db, logger: h.logger, rules: buildRules() });
    const job = await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice" });

    // First delivery: a worker takes the job, commits the restart, and "dies" before recording
    // completion — it never calls moveToCompleted nor extends its short lock.
    const doomed = new Worker<ReprocessJobData, ReprocessResult>(h.queue.name, null, { ...baseWorkerOptions(h), lockDuration: 500 });
    const token = randomUUID();
    const taken = (await doomed.getNextJob(token)) as Job<ReprocessJobData, ReprocessResult>;
    expect(taken.id).toBe(job.id);
    const first = await processor(taken, token);
    await doomed.close();
    expect(await taken.getState()).toBe("active");

    // Second delivery: BullMQ's stalled-job check hands the same job to a live worker.
    const live = new Worker<ReprocessJobData, ReprocessResult>(h.queue.name, processor, { ...baseWorkerOptions(h), stalledInterval: 300 });
    try {
      const second = await h.finished(job);
      expect(second).toEqual(first);
      expect(first).toEqual({ taskId: id, restartCount: 1, status: S.QueuedForPreProcessing });
    } finally {
      await live.close();
    }
    expect((await reprocessRow(db, id!)).restart_count).toBe(1);
    expect(await reprocessEventsOf(db, id!)).toHaveLength(1);
    expect(h.lines.filter((l) => l.jobId === job.id).map((l) => l.outcome)).toEqual(["applied", "alreadyApplied"]);
  });

  it("when two deliveries of one job run at the same moment, one applies and the other returns its result", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60 }]);
    const processor = createReprocessProcessor({ db, logger: h.logger, rules: buildRules() });
    const job = (await enqueueReprocess(h.queue, { taskId: id })) as Job<ReprocessJobData, ReprocessResult>;
    const results = await Promise.all([processor(job, "a"), processor(job, "b")]);
    expect(results).toEqual([
      { taskId: id, restartCount: 1, status: S.QueuedForPreProcessing },
      { taskId: id, restartCount: 1, status: S.QueuedForPreProcessing },
    ]);
    expect(await reprocessEventsOf(db, id!)).toHaveLength(1);
    expect(h.lines.map((l) => l.outcome).sort()).toEqual(["alreadyApplied", "applied"]);
  });

  // Both deliveries are parked behind a row lock, so both statements start before either commits:
  // the second sees no event in its snapshot and meets the row the first restarted.
  it.each([
    { name: "the second is refused by the guard (the row is fresh in QueuedForPreProcessing)", force: false },
    { name: "forced, the second's INSERT hits the unique request id", force: true },
  ])("when two deliveries of one request wait on the same row lock: $name, and returns the first's result", async ({ force }) => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, edits: EDITS }]);
    const processor = createReprocessProcessor({ db, logger: h.logger, rules: buildRules() });
    const job = (await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice", force })) as Job<ReprocessJobData, ReprocessResult>;
    const platform = await holdTransaction(`SELECT 1 FROM tasks WHERE id = ${id} FOR UPDATE`);
    let results: ReprocessResult[];
    try {
      const deliveries = Promise.all([processor(job, "a"), processor(job, "b")]);
      await waitForLockWaiter(db, 10_000, 2);
      await platform.release();
      results = await deliveries;
    } finally {
      await platform.release();
    }
    expect(results).toEqual([0, 1].map(() => ({ taskId: id, restartCount: 1, status: S.QueuedForPreProcessing })));
    expect(await reprocessEventsOf(db, id!)).toHaveLength(1);
    expect((await reprocessRow(db, id!)).restart_count).toBe(1);
    expect(h.lines.map((l) => l.outcome).sort()).toEqual(["alreadyApplied", "applied"]);
  });

  it("when a redelivered request named the task by an external id that has changed since, it still returns the first result", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 5, externalId: "OLD" }]);
    const processor = createReprocessProcessor({ db, logger: h.logger, rules: buildRules() });
    const job = (await enqueueReprocess(h.queue, { externalId: "OLD", organizationId: 5 })) as Job<ReprocessJobData, ReprocessResult>;
    const first = await processor(job, "a");
    await db.$executeRaw`UPDATE tasks SET external_id = 'NEW' WHERE id = ${id}::int`;
    expect(await processor(job, "b")).toEqual(first);
    expect(await reprocessEventsOf(db, id!)).toHaveLength(1);
  });

  it("when a user asks twice while the first request is still waiting, the task restarts once; a request after it finished restarts it again", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60 }]);
    const first = await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice" }, { dedupeTaskId: id });
    const second = await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice (again)" }, { dedupeTaskId: id });
    expect(second.id).toBe(first.id);
    expect(second.data).toEqual({ taskId: id, requestedBy: "alice" }); // the first request's data
    expect(await h.queue.getJobCounts("waiting")).toEqual({ waiting: 1 });
    expect(await h.queue.getDeduplicationJobId(reprocessDedupeId(id!))).toBe(first.id);

    h.startWorker(db);
    expect(await h.finished(first)).toEqual({ taskId: id, restartCount: 1, status: S.QueuedForPreProcessing });
    expect(await reprocessEventsOf(db, id!)).toMatchObject([{ actor: "alice" }]);

    // Later — past QueuedForPreProcessing's threshold, or the reprocess guard would refuse the restart of a restart.
    await db.$executeRaw`UPDATE tasks SET status_changed_at = now() - interval '3 hours' WHERE id = ${id}::int`;
    const later = await enqueueReprocess(h.queue, { taskId: id }, { dedupeTaskId: id });
    expect(later.id).not.toBe(first.id);
    expect(await h.finished(later)).toMatchObject({ restartCount: 2 });
  });

  it("when a user asks again while the first request is running, it collapses into the running one", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60 }]);
    const lock = await holdRowLock("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", [id]);
    try {
      h.startWorker(db);
      const first = await enqueueReprocess(h.queue, { taskId: id }, { dedupeTaskId: id });
      await waitForLockWaiter(db); // the worker is inside its transaction, waiting for the row
      expect(await first.getState()).toBe("active");
      const second = await enqueueReprocess(h.queue, { taskId: id }, { dedupeTaskId: id });
      expect(second.id).toBe(first.id);
      await lock.release();
      expect(await h.finished(first)).toMatchObject({ restartCount: 1 });
    } finally {
      await lock.release();
    }
    expect(await reprocessEventsOf(db, id!)).toHaveLength(1);
    expect(await h.queue.getJobCounts("waiting", "delayed", "active")).toEqual({ waiting: 0, delayed: 0, active: 0 });
  });
});
