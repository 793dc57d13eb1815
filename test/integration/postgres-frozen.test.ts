// PostgreSQL frozen: the connection stays open and nothing answers (a proxy that stops forwarding,
// test/support/tcp-proxy.ts freeze()). Before, a statement waited forever: a sweep kept renewing
// its BullMQ lock, reprocess slots hung. Now every statement fails within statement_timeout plus
// the client's margin, the pool drops the dead connection, and work resumes by itself on restore.
// Short timeouts (the production defaults are DATABASE_STATEMENT_TIMEOUT PT30S, DATABASE_CONNECT_TIMEOUT PT10S).
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { CLIENT_TIMEOUT_MARGIN_MS, createDb, type Db } from "../../src/platform/db/client.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { enqueueReprocess } from "../../src/reprocess/reprocess-queue.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { addAssignments, assignmentsOf, captureLogger, reprocessEventsOf, reprocessHarness, reprocessRow, type ReprocessHarness } from "../support/reprocess-harness.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";

const STATEMENT_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 1000;
/** The longest a statement may take to fail against a frozen server: the client's own timeout, plus scheduling slack. */
const FAILS_WITHIN_MS = STATEMENT_TIMEOUT_MS + CLIENT_TIMEOUT_MARGIN_MS + 1500;

const db = testDb();
let proxy: TcpProxy;
let frozenDb: Db;
const pool = captureLogger();

beforeEach(async () => {
  await resetTables(db);
  proxy = await startTcpProxy();
  frozenDb = createDb(proxy.url(testDatabaseUrl()), { max: 2, statementTimeoutMs: STATEMENT_TIMEOUT_MS, connectTimeoutMs: CONNECT_TIMEOUT_MS, logger: pool.logger });
  await frozenDb.$queryRaw`SELECT 1`; // an open, idle connection in the pool: the freeze catches it
});
afterEach(async () => {
  proxy.restore();
  await frozenDb.$disconnect();
  await proxy.close();
});
afterAll(() => db.$disconnect());

async function timed<T>(work: Promise<T>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await work;
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe("when PostgreSQL freezes", () => {
  it("a statement on an open connection, one needing a new connection, and one queued for a busy pool each fail within their timeouts", async () => {
    proxy.freeze();
    const onOpen = await timed(frozenDb.$queryRaw`SELECT 1`);
    expect(onOpen.error).toBeDefined();
    expect(onOpen.ms).toBeLessThan(FAILS_WITHIN_MS);
    expect(onOpen.ms).toBeGreaterThanOrEqual(STATEMENT_TIMEOUT_MS);

    // The timed-out connection was discarded: the next statement must connect, and the frozen server never answers the handshake.
    const both = await Promise.all([0, 1, 2, 3].map(() => timed(frozenDb.$queryRaw`SELECT 1`)));
    for (const attempt of both) {
      expect(attempt.error).toBeDefined();
      expect(attempt.ms).toBeLessThan(FAILS_WITHIN_MS + CONNECT_TIMEOUT_MS);
    }

    proxy.restore();
    await expect(frozenDb.$queryRaw`SELECT 1 AS ok`).resolves.toEqual([{ ok: 1 }]);
    console.log(`frozen: open connection failed after ${Math.round(onOpen.ms)} ms, new connections after ${both.map((b) => Math.round(b.ms)).join("/")} ms`);
  });

  it("a reprocess attempt fails within its timeout and is retried; after the restore it applies once and whole, with no help", async () => {
    const h: ReprocessHarness = await reprocessHarness();
    try {
      const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, edits: { a: 1 } }]);
      await addAssignments(db, id!, ["COMPLETED", "IN_PROGRESS"]);
      h.startWorker(frozenDb);
      proxy.freeze();
      const started = performance.now();
      const job = await enqueueReprocess(h.queue, { taskId: id, requestedBy: "alice" });
      await expect.poll(async () => (await h.queue.getJob(job.id!))!.attemptsMade, { timeout: FAILS_WITHIN_MS + 1000, interval: 50 }).toBeGreaterThanOrEqual(1);
      expect(performance.now() - started).toBeLessThan(FAILS_WITHIN_MS + 1000);
      console.log(`frozen: reprocess attempt 1 failed and was rescheduled after ${Math.round(performance.now() - started)} ms`);
      expect(h.lines.find((l) => l.jobId === job.id)).toMatchObject({ outcome: "retrying", msg: "reprocess attempt failed; will retry" });
      // Frozen, nothing reached the database: the task is as it was.
      expect(await reprocessRow(db, id!)).toMatchObject({ status: S.ToReview, restart_count: 0, edits: { a: 1 } });
      expect(await reprocessEventsOf(db, id!)).toEqual([]);

      proxy.restore();
      // What the frozen server held may still run when it wakes (it is one statement): either way the retry returns one result.
      expect(await h.finished(job)).toEqual({ taskId: id, restartCount: 1, status: S.QueuedForPreProcessing });
      expect(await reprocessRow(db, id!)).toMatchObject({ status: S.QueuedForPreProcessing, restart_count: 1, edits: null });
      expect(await assignmentsOf(db, id!)).toEqual([
        { position: 1, status: "PENDING" },
        { position: 2, status: "PENDING" },
      ]);
      expect(await reprocessEventsOf(db, id!)).toHaveLength(1);
    } finally {
      await h.close();
    }
  });

  it("a sweep fails within its timeout (it no longer hangs holding its job); after the restore the next sweep reverts every stuck task, no half batch", async () => {
    const ids = await insertTasks(db, Array.from({ length: 50 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * 3600 })));
    proxy.freeze();
    const sweep = await timed(runSweep(frozenDb, buildRules(), { sweepId: "frozen", dryRun: false, batchSize: 20 }));
    expect(sweep.error).toBeDefined();
    expect(sweep.ms).toBeLessThan(FAILS_WITHIN_MS);
    console.log(`frozen: sweep failed after ${Math.round(sweep.ms)} ms`);
    proxy.restore();

    const stillStuck = async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM tasks WHERE status = ${S.ProcessingInProgress}::smallint`)[0]!.n;
    // A batch is one transaction: all 20 of it or none, never part of one. (The held statement may run on restore.)
    const events = async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events`)[0]!.n;
    expect((50 - (await stillStuck())) % 20).toBe(0);
    expect(await events()).toBe(50 - (await stillStuck()));

    const after = await runSweep(frozenDb, buildRules(), { sweepId: "thawed", dryRun: false, batchSize: 20 });
    expect(after.interrupted).toBe(false);
    expect(await stillStuck()).toBe(0);
    expect(await events()).toBe(ids.length);
  });

  it.each([
    ["the network drops it", async () => proxy.cut()],
    ["its backend is terminated", async (pid: number) => void (await db.$queryRaw`SELECT pg_terminate_backend(${pid}::int)`)],
  ])("a connection lost inside a transaction (%s) fails that transaction, and the process and the pool carry on", async (_, lose) => {
    // Unhandled, the lost connection's 'error' event would end the process (vitest reports it as an unhandled error).
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let backend!: (pid: number) => void;
    const started = new Promise<number>((resolve) => (backend = resolve));
    const transaction = frozenDb.$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      backend(row!.pid);
      await gate;
      await tx.$queryRaw`SELECT 1`;
    });
    const settled = transaction.then(() => undefined, (error: unknown) => error);
    await lose(await started);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the close reaches the client
    release();
    expect(await settled).toBeInstanceOf(Error);
    proxy.restore();
    expect(await frozenDb.$queryRaw<{ one: number }[]>`SELECT 1 AS one`).toEqual([{ one: 1 }]);
  });

  it("an idle connection the network drops is logged as a pool error, by message and code, never with the connection string", async () => {
    const url = new URL(proxy.url(testDatabaseUrl()));
    url.username = "postgres";
    url.password = "pw-never-logged-7Q"; // trust auth ignores it; it must still never be printed
    const own = captureLogger();
    const withPassword = createDb(url.toString(), { max: 1, statementTimeoutMs: STATEMENT_TIMEOUT_MS, logger: own.logger });
    try {
      await withPassword.$queryRaw`SELECT 1`;
      proxy.cut();
      await expect.poll(() => own.lines.filter((l) => l.msg === "postgres pool error (idle connection)").length, { timeout: 5000 }).toBeGreaterThan(0);
      expect(own.lines[0]).toMatchObject({ level: 40, err: { message: expect.any(String) } });
      expect(JSON.stringify(own.lines)).not.toContain("pw-never-logged-7Q");
    } finally {
      proxy.restore();
      await withPassword.$disconnect();
    }
  });
});
