// GET …/sdtask/events reads the task's own events, not the month's partition. One task has 2,000
// events, the newest of 22,000 (a task the sweep keeps reverting, among other tasks' events): the
// page's statement — the one listTaskEvents sends — runs under EXPLAIN (ANALYZE); the rows its scans
// of task_events produce or throw away are held to the task's events after the cursor.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Prisma from "../../src/platform/db/sql.js";
import { listTaskEvents, listTaskEventsSql } from "../../src/api/read-api/sql/list-task-events.js";
import { resetTables, testDb } from "../support/db.js";
import { planCost } from "../support/query-plan.js";

const db = testDb();
/** Rows of task_events (any partition) the statement read. */
const rowsRead = async (sql: Prisma.Sql) => (await planCost(db, sql, "task_events")).rowsRead;
const TASK = 42;
const OTHERS = 20_000;
const OWN = 2_000;



const insert = (taskOf: string, count: number) =>
  db.$executeRawUnsafe(`
    INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, created_at)
    SELECT ${taskOf}, 1, 1000, 'AUTO_REVERTED', 41, 40, 'stuck in ProcessingInProgress', 'watchdog', now()
    FROM generate_series(1, ${count}) g`);

beforeAll(async () => {
  await resetTables(db);
  await insert(`1000 + g % 5000`, OTHERS);
  await insert(String(TASK), OWN);
  await db.$executeRawUnsafe("ANALYZE task_events");
}, 60_000);

afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
});

describe("a task with 2,000 of 22,000 events", () => {
  it("a page reads the task's events after the cursor, not the partition's", async () => {
    const [{ middle }] = (await db.$queryRaw<{ middle: bigint }[]>`
      SELECT id AS middle FROM task_events WHERE task_id = ${TASK}::int ORDER BY id OFFSET ${OWN / 2}::int LIMIT 1`) as [{ middle: bigint }];
    expect(await rowsRead(listTaskEventsSql(TASK, 0n, 100)), "first page: rows of task_events read").toBeLessThanOrEqual(OWN);
    expect(await rowsRead(listTaskEventsSql(TASK, middle, 100)), "middle page: rows of task_events read").toBeLessThanOrEqual(OWN / 2);
  });

  it("following the cursor lists every event of the task once, in id order", async () => {
    const ids: bigint[] = [];
    let after = 0n;
    for (;;) {
      const page = await listTaskEvents(db, TASK, after, 500);
      ids.push(...page.events.map((e) => e.id));
      if (!page.more) break;
      after = page.events.at(-1)!.id;
    }
    expect(ids).toHaveLength(OWN);
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
  });
});
