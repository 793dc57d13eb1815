// A real worker process (`watchdog start`) killed with SIGKILL in the middle of a bulk reprocess
// slice — some of the slice's tasks already restarted inside its open transaction — and started
// again: the slice is rolled back whole, the new process carries the bulk on from PostgreSQL, and
// every task is reprocessed exactly once, within the pace across the restart.
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createBulk } from "../../src/reprocess/sql/create-bulk.js";
import { insertTasks, resetTables, testDb, waitForLockWaiter } from "../support/db.js";
import { paceFigures, waitUntilFinished } from "../support/bulk.js";
import { deletePrefix, uniquePrefix } from "../support/redis.js";
import { holdRowLock } from "../support/reprocess-harness.js";
import { killStillRunning, runCli, workerEnv, type CliProcess } from "../support/worker-process.js";
import { ORG_7_TOKEN } from "./http-app.js";

const db = testDb();
let prefix: string;
const children: CliProcess[] = [];
const RATE = 500;
const TASKS = 1000;
const LOCKED_TASK = 510;

beforeEach(async () => {
  await resetTables(db);
  prefix = uniquePrefix();
});
afterEach(async () => {
  killStillRunning(children);
  await db.$executeRaw`UPDATE bulk_reprocesses SET state = 'CANCELLED', finished_at = now() WHERE state = 'RUNNING'`;
  await deletePrefix(prefix);
});
afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
});

const committed = async () => {
  const [row] = await db.$queryRaw<{ events: number; items: number }[]>`
    SELECT (SELECT count(*)::int FROM task_events WHERE kind = 'REPROCESSED') AS events,
           (SELECT count(*)::int FROM bulk_reprocess_items WHERE outcome IS NOT NULL) AS items`;
  return row!;
};

async function startWorker(): Promise<{ worker: CliProcess; apiUrl: string }> {
  const worker = runCli(["start"], workerEnv(prefix, {
    API_TOKENS: `${ORG_7_TOKEN}:7`,
    BULK_REPROCESS_RATE: String(RATE),
  }));
  children.push(worker);
  const started = await worker.waitForLog("watchdog started", 30_000);
  return { worker, apiUrl: String(started.api) };
}

it("killed -9 mid-slice and restarted: the slice rolls back, the bulk resumes, every task is reprocessed exactly once", { timeout: 90_000 }, async () => {
  const ids = await insertTasks(db, Array.from({ length: TASKS }, () => ({ status: S.ProcessingFailed, ageSeconds: 600, organizationId: 7 })));
  expect(ids.at(-1)).toBe(TASKS);
  // Someone else holds one task's row: the slice that reaches it waits there, its earlier tasks restarted but not committed.
  const lock = await holdRowLock("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", [LOCKED_TASK]);
  try {
    // The bulk, accepted as the endpoint accepts it, an hour ago (time moved by writing the timestamp):
    // its schedule never limits a slice, so every slice takes ceil(rate / 4) = 125 tasks and the
    // slice that meets the locked task 510 has restarted 501…509 inside its transaction by then.
    const created = await createBulk(db, {
      organizationId: 7, idempotencyKey: "kill", requestHash: "kill", selection: { taskIds: TASKS, force: false }, force: false,
      requestedBy: "test:kill", httpRequestId: null, items: { taskIds: ids },
    }, 1);
    if (!("bulk" in created)) throw new Error("the fixture bulk was not created");
    const { bulk } = created;
    await db.$executeRaw`UPDATE bulk_reprocesses SET created_at = now() - interval '1 hour' WHERE id = ${bulk.id}`;
    const first = await startWorker();

    // Until the slice waits at task 510 holding 501…509 (a slice that waited past its 2 s lock timeout
    // rolls back and the next one gets there again within milliseconds).
    await waitForLockWaiter(db, 30_000);
    await expect
      .poll(async () => (await db.$queryRaw<{ id: number }[]>`SELECT id FROM tasks WHERE id > 500 AND id < ${LOCKED_TASK}::int FOR UPDATE SKIP LOCKED`).length, { timeout: 10_000, interval: 10 })
      .toBe(0);
    const before = await committed();
    expect(before.events).toBe(before.items);
    // Everything before the waiting slice is committed; its own restarted tasks are not.
    expect(before.events).toBe(500);
    const inSlice = LOCKED_TASK - 1 - before.events;
    expect(inSlice).toBe(9);
    // The slice holds its organization's pace lock.
    const [paceLocks] = await db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE a.datname = current_database() AND l.locktype = 'advisory' AND l.granted`;
    expect(paceLocks!.n).toBeGreaterThanOrEqual(1);

    first.worker.proc.kill("SIGKILL");
    expect(await first.worker.exited).toEqual({ code: null, signal: "SIGKILL" });
    await lock.release();
    // The dead process's transaction ends (rolled back) once its backend sees the closed socket.
    await expect.poll(async () => (await db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)[0]!.n, { timeout: 10_000, interval: 50 }).toBe(0);
    expect(await committed()).toEqual(before);

    const second = await startWorker();
    const done = await waitUntilFinished(second.apiUrl, ORG_7_TOKEN, bulk.id, 60_000);
    expect(done).toMatchObject({ state: "done", total: TASKS, applied: TASKS, refused: 0, notFound: 0 });

    const figures = await paceFigures(db, bulk.id);
    console.log(`kill -9 mid-slice at ${before.events} committed, ${inSlice} restarted inside the killed slice: ${JSON.stringify(figures)}`);
    expect(figures).toMatchObject({ events: TASKS, appliedTwice: 0 });
    expect(figures.maxPerSlidingSecond).toBeLessThanOrEqual(RATE);
    expect(await db.$queryRaw`SELECT restart_count, count(*)::int AS n FROM tasks GROUP BY restart_count`).toEqual([{ restart_count: 1, n: TASKS }]);
  } finally {
    await lock.release();
  }
});
