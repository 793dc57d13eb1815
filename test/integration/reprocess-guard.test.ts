// The reprocess guard end to end: a task that is Deleting or Deleted, or whose machine work is in
// flight and not past its threshold, is refused with a Conflict — through the queue (decided on the
// locked row), the CLI (exit 4) and HTTP (409, the reason in X-Error) — and each forced counterpart
// restarts it, audited as forced. Ages are written as timestamps (database clock), never slept.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { enqueueReprocess, REPROCESS_ATTEMPTS } from "../../src/reprocess/reprocess-queue.js";
import type { ReprocessJobOutcome } from "../../src/reprocess/reprocess-worker.js";
import { holdTransaction, insertTasks, resetTables, testDatabaseUrl, testDb, type TaskFixture, waitForLockWaiter } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { reprocessEventsOf, reprocessHarness, reprocessRow, type ReprocessHarness } from "../support/reprocess-harness.js";
import { runCli } from "../support/worker-process.js";
import { ORG_7_TOKEN, sample, startApp } from "./http-app.js";

const db = testDb();
let h: ReprocessHarness;

beforeEach(async () => {
  await resetTables(db);
  h = await reprocessHarness();
});
afterEach(() => h.close());
afterAll(() => db.$disconnect());

const H = 3600;
/** Every case the guard refuses, with what its reason must say. */
const REFUSED: { name: string; task: TaskFixture; reason: RegExp }[] = [
  { name: "Deleting", task: { status: S.Deleting, ageSeconds: 5 * H }, reason: /is Deleting \(19\): a restart would bring back a task being deleted/ },
  { name: "Deleted", task: { status: S.Deleted, ageSeconds: 30 * 24 * H }, reason: /is Deleted \(20\)/ },
  { name: "in flight under its threshold", task: { status: S.ProcessingInProgress, ageSeconds: 3 * H }, reason: /is ProcessingInProgress \(41\) for 10[89]\d\d s, not yet past its threshold of 14400 s: machine work is in flight/ },
  {
    name: "in flight under its workspace's threshold (past the rule's)",
    task: { status: S.ProcessingInProgress, ageSeconds: 5 * H, workspaceId: 7 },
    reason: /not yet past its threshold of 21600 s/,
  },
];
// Workspace 7 waits longer for ProcessingInProgress than the rule's PT4H.
const rules = buildRules({ ProcessingInProgress: { workspaces: [{ workspaceIds: [7], stuckAfter: "PT6H" }] } });

const withOrg = (task: TaskFixture): TaskFixture => ({ organizationId: 7, ...task });

describe("through the queue", () => {
  it.each(REFUSED)("$name: refused once with Conflict (never retried), nothing changed; forced, it restarts and the event says forced", async ({ task, reason }) => {
    const outcomes: ReprocessJobOutcome[] = [];
    const [id] = await insertTasks(db, [{ ...task, edits: { a: 1 } }]);
    h.startWorker(db, 2, { rules, onOutcome: (o) => outcomes.push(o) });

    const job = await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice" });
    await expect(h.finished(job)).rejects.toThrow(reason);
    const failed = (await h.queue.getJob(job.id!))!;
    expect(failed.failedReason).toMatch(new RegExp(`^Conflict: task ${id} `));
    expect(failed.failedReason).toContain("force");
    expect([failed.attemptsMade, failed.opts.attempts]).toEqual([1, REPROCESS_ATTEMPTS]);
    expect(await reprocessRow(db, id!)).toMatchObject({ status: task.status, restart_count: 0, edits: { a: 1 } });
    expect(await reprocessEventsOf(db, id!)).toEqual([]);

    const forced = await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice", force: true });
    expect(await h.finished(forced)).toEqual({ taskId: id, restartCount: 1, status: S.QueuedForPreProcessing });
    const [event] = await reprocessEventsOf(db, id!);
    expect(event).toMatchObject({ from_status: task.status, actor: "alice", details: { forced: true, guardOverridden: true, restartCount: 1 } });
    expect(event!.reason).toMatch(/^forced reprocess requested by alice: .* \(guard overridden\)$/);
    expect(outcomes).toEqual(["conflict", "applied"]);
    expect(h.lines.find((l) => l.jobId === forced.id)).toMatchObject({ msg: "task reprocessed (forced)", forced: true });
  });

  it("allowed without force: stable, archivable, past the threshold (rule and workspace), unknown codes; force there is still audited", async () => {
    const ids = await insertTasks(db, [
      { status: S.ToReview, ageSeconds: 1 },
      { status: S.Processed, ageSeconds: 1, location: "HISTORY" },
      { status: S.ProcessingInProgress, ageSeconds: 4 * H + 60 },
      { status: S.ProcessingInProgress, ageSeconds: 6 * H + 60, workspaceId: 7 },
      { status: 55, ageSeconds: 1 },
    ]);
    h.startWorker(db, 4, { rules });
    const jobs = await Promise.all(ids.map((taskId) => enqueueReprocess(h.queue, { taskId })));
    expect(await Promise.all(jobs.map((j) => h.finished(j)))).toEqual(ids.map((taskId) => ({ taskId, restartCount: 1, status: S.QueuedForPreProcessing })));
    for (const id of ids) expect((await reprocessEventsOf(db, id))[0]!.details).not.toHaveProperty("forced");

    // Forced although nothing needed forcing: audited as forced, the guard not overridden.
    const [stable] = await insertTasks(db, [{ status: S.ExportFailed, ageSeconds: 1 }]);
    await h.finished(await enqueueReprocess(h.queue, { taskId: stable, force: true, httpRequestId: "req-42" }));
    const [event] = await reprocessEventsOf(db, stable!);
    expect(event).toMatchObject({ details: { forced: true, guardOverridden: false, httpRequestId: "req-42" } });
    expect(event!.reason).toMatch(/^forced reprocess requested by unknown requester: ExportFailed -> QueuedForPreProcessing, edits discarded$/);
  });

  it("decides on the locked row: a task that enters ProcessingInProgress while the request waits for its lock is refused", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: H }]);
    // The platform picks the task up (status -> 41, now) in a transaction still open as the request arrives.
    const platform = await holdTransaction(`UPDATE tasks SET status = ${S.ProcessingInProgress} WHERE id = ${id}`);
    try {
      h.startWorker(db, 2, { rules });
      const job = await enqueueReprocess(h.queue, { taskId: id });
      await waitForLockWaiter(db);
      await platform.release();
      await expect(h.finished(job)).rejects.toThrow(/^Conflict: task \d+ is ProcessingInProgress \(41\) for 0 s/);
    } finally {
      await platform.release();
    }
    expect(await reprocessRow(db, id!)).toMatchObject({ status: S.ProcessingInProgress, restart_count: 0 });
    expect(await reprocessEventsOf(db, id!)).toEqual([]);
  });
});

describe("through the CLI", () => {
  it("each refused case exits 4 with the reason and enqueues nothing; with --force it restarts, audited as forced", async () => {
    const ids = await insertTasks(db, REFUSED.slice(0, 3).map((c) => c.task));
    const env = { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: h.prefix, LOG_LEVEL: "silent" };
    const run = async (args: string[]) => {
      const cli = runCli(["reprocess", ...args], env);
      return { code: (await cli.exited).code, stderr: cli.stderr(), stdout: cli.lines() };
    };
    const refused = await Promise.all(ids.map((id) => run(["--task-id", String(id)])));
    refused.forEach((out, i) => {
      expect(out).toMatchObject({ code: 4, stdout: [] });
      expect(out.stderr).toMatch(new RegExp(`^watchdog: Conflict: task ${ids[i]} `));
      expect(out.stderr).toMatch(REFUSED[i]!.reason);
    });
    expect(await h.queue.getJobCounts("waiting", "failed")).toEqual({ waiting: 0, failed: 0 });

    h.startWorker(db, 4, { rules });
    const forced = await Promise.all(ids.map((id) => run(["--task-id", String(id), "--force", "--requested-by", "ops:carol", "--wait"])));
    forced.forEach((out, i) => expect(out).toMatchObject({ code: 0, stderr: "", stdout: [{ taskId: ids[i], restartCount: 1, status: S.QueuedForPreProcessing }] }));
    for (const id of ids) expect(await reprocessEventsOf(db, id)).toMatchObject([{ actor: "ops:carol", details: { forced: true, guardOverridden: true } }]);
  });

  it("a refusal by the worker (the task changed after the CLI looked) also exits 4", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: H }]);
    const platform = await holdTransaction(`UPDATE tasks SET status = ${S.Deleting} WHERE id = ${id}`);
    try {
      h.startWorker(db, 2, { rules });
      const cli = runCli(["reprocess", "--task-id", String(id), "--wait"], { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: h.prefix, LOG_LEVEL: "silent" });
      await waitForLockWaiter(db);
      await platform.release();
      expect((await cli.exited).code).toBe(4);
      expect(cli.stderr()).toMatch(/failed: Conflict: task \d+ is Deleting \(19\)/);
    } finally {
      await platform.release();
    }
  });
});

describe("over HTTP", () => {
  it("each refused case is 409 with the reason in X-Error and nothing enqueued; force=true is 202 and the worker restarts it, audited as forced", async () => {
    const app = await startApp({}, { rules });
    try {
      const ids = await insertTasks(db, REFUSED.map((c) => withOrg(c.task)));
      const restart = (query: string) => fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}${query}`, { method: "PATCH", headers: { authorization: `Bearer ${ORG_7_TOKEN}` } });
      for (const [i, id] of ids.entries()) {
        const response = await restart(`?taskId=${id}`);
        expect(response.status).toBe(409);
        expect(await response.text()).toBe("");
        expect(response.headers.get("x-error")).toMatch(new RegExp(`^Conflict: task ${id} `));
        expect(response.headers.get("x-error")).toMatch(REFUSED[i]!.reason);
        expect((await restart(`?taskId=${id}&force=false`)).status).toBe(409);
      }
      expect((await restart(`?taskId=${ids[0]}&force=yes`)).status).toBe(400);
      expect((await restart(`?taskId=${ids[0]}&force=true&force=true`)).headers.get("x-error")).toMatch(/^force is given 2 times; give it once$/);
      const metrics = await (await fetch(`${app.opsUrl}/metrics`)).text();
      expect(sample(metrics, "watchdog_reprocess_requests_total", { outcome: "conflict" })).toBe(2 * ids.length);

      for (const id of ids) {
        const response = await restart(`?taskId=${id}&force=true`);
        expect(response.status).toBe(202);
      }
      await expect.poll(async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events WHERE (details ->> 'forced')::boolean`)[0]!.n, { timeout: 15_000 }).toBe(ids.length);
      for (const id of ids) expect(await reprocessEventsOf(db, id)).toMatchObject([{ actor: expect.stringMatching(/^api:org-7:/), details: { forced: true, guardOverridden: true } }]);
      // The worker's own outcomes are counted apart from the HTTP calls.
      const after = await (await fetch(`${app.opsUrl}/metrics`)).text();
      await expect.poll(async () => sample(await (await fetch(`${app.opsUrl}/metrics`)).text(), "watchdog_reprocess_jobs_total", { outcome: "applied" })).toBe(ids.length);
      expect(sample(after, "watchdog_reprocess_jobs_total", { outcome: "conflict" })).toBe(0);
    } finally {
      await app.stop();
    }
  });
});
