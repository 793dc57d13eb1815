// The escalated tasks (the console's "needs support", `watchdog stuck`) are read from their own
// partial index, not from every warned and every inbox task of the platform. On a skewed table
// (bench/skewed-tasks.ts: 20,000 tasks, one organization with 16,000, ~5,000 inbox tasks, ~400
// warned), six warned inbox tasks reverted 3+ times: the statement findEscalatedTasks sends runs
// under EXPLAIN (ANALYZE); the rows its scans of tasks produce or throw away are held to those six.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findEscalatedTasks, findEscalatedTasksSql } from "../../src/sweep/sql/find-escalated-tasks.js";
import { resetTables, testDb } from "../support/db.js";
import { planCost, seedSkewedTable } from "../support/query-plan.js";

const db = testDb();
const ESCALATED = 6;

const cost = (runner: Pick<typeof db, "$queryRaw">) => planCost(runner, findEscalatedTasksSql(3, 20), "tasks");



beforeAll(
  () =>
    seedSkewedTable(20_000, (client) =>
      client.query(`UPDATE tasks SET auto_revert_count = 3 + id % 3 WHERE id IN (SELECT id FROM tasks WHERE location = 'INBOX' AND warning ORDER BY id LIMIT ${ESCALATED})`),
    ),
  120_000,
);

afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
});

describe("the escalated tasks", () => {
  it("are read from tasks_inbox_escalated_idx: the rows read are the escalated tasks, not the inbox or the warned tasks", async () => {
    const [shape] = await db.$queryRaw<{ inbox: number; warned: number }[]>`
      SELECT count(*) FILTER (WHERE location = 'INBOX')::int AS inbox, count(*) FILTER (WHERE warning)::int AS warned FROM tasks`;
    const c = await cost(db);
    expect(c.indexes).toContain("tasks_inbox_escalated_idx");
    expect(c.rowsRead, `rows of tasks read (${shape!.inbox} inbox tasks, ${shape!.warned} warned)`).toBeLessThanOrEqual(ESCALATED);
    const found = await findEscalatedTasks(db, 3, 4);
    expect(found.total).toBe(ESCALATED);
    expect(found.tasks.map((t) => t.autoRevertCount)).toEqual([...found.tasks.map((t) => t.autoRevertCount)].sort((a, b) => b - a));
  });

  it("without the index (dropped in a transaction that is rolled back) the same statement reads far more", async () => {
    const rollback = new Error("rollback");
    let without: { rowsRead: number } | undefined;
    await expect(
      db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe("DROP INDEX tasks_inbox_escalated_idx");
        without = await cost(tx);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(without!.rowsRead).toBeGreaterThan(10 * ESCALATED);
  });
});
