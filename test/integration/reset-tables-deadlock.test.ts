// The fixture every database test starts with must not fail because a running worker holds locks:
// CI once failed on "deadlock detected" in resetTables, when a bulk slice (holding its bulk row,
// touching events) met the TRUNCATE (holding task_events, waiting for bulk_reprocesses). This
// builds that exact cycle with a plain transaction standing in for the worker's slice, and checks
// that the reset wins and the worker's transaction is the one PostgreSQL aborts.
import { afterAll, expect, it } from "vitest";
import pg from "pg";
import { createDb } from "../../src/platform/db/client.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";

const db = testDb();
afterAll(() => db.$disconnect());

async function waitUntilWaitingOnLock(pid: number): Promise<void> {
  for (;;) {
    const [row] = await db.$queryRaw<{ waiting: boolean }[]>`
      SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity WHERE pid = ${pid}`;
    if (row?.waiting) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

it("a reset that meets a worker's transaction in a lock cycle empties the tables; the worker's transaction is aborted", async () => {
  await resetTables(db);
  await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60 }]);
  const worker = new pg.Client({ connectionString: testDatabaseUrl() });
  const resetDb = createDb(testDatabaseUrl(), { max: 1 });
  await worker.connect();
  try {
    // The "slice" holds a lock on bulk_reprocesses, as a slice holds its bulk row.
    await worker.query("BEGIN");
    await worker.query("SELECT * FROM bulk_reprocesses FOR UPDATE");
    const [{ pid }] = (await resetDb.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`) as [{ pid: number }];
    const reset = resetTables(resetDb);
    // The reset has locked task_events and waits for bulk_reprocesses…
    await waitUntilWaitingOnLock(pid);
    // …and the slice now reads events: it waits on the reset, which waits on it.
    const slice = await worker.query("SELECT count(*) FROM task_events").then(
      () => "read",
      (e: Error & { code?: string }) => e.code,
    );
    expect(slice).toBe("40P01");
    await worker.query("ROLLBACK");
    await reset;
    const [{ n }] = (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM tasks`) as [{ n: number }];
    expect(n).toBe(0);
  } finally {
    await worker.end();
    await resetDb.$disconnect();
  }
});
