// A bulk slice that fails on one of its tasks says why: the error of that task's reprocess statement
// (a row held elsewhere past the slice's lock timeout), not what the aborted transaction answers the
// statement tried after it. The loop logs the error a slice throws, once per distinct error: it is
// what an operator reads to find why a bulk is not moving (docs/reprocess.md, "Bulk reprocess").
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { buildRules } from "../../src/rules/rules.js";
import { thresholdRows } from "../../src/rules/resolve.js";
import { createBulk } from "../../src/reprocess/sql/create-bulk.js";
import { applyBulkSlice } from "../../src/reprocess/sql/apply-bulk-slice.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { captureLogger, holdRowLock } from "../support/reprocess-harness.js";
import { startBulkLoop } from "../../src/reprocess/bulk-loop.js";
import type { NewBulk } from "../../src/reprocess/sql/create-bulk.js";

const db = testDb();

beforeEach(() => resetTables(db));
afterEach(async () => {
  await db.$executeRaw`UPDATE bulk_reprocesses SET state = 'CANCELLED', finished_at = now() WHERE state = 'RUNNING'`;
});
afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
});

it("a slice that meets a task row held elsewhere fails with the lock timeout, naming it, and applies nothing", { timeout: 20_000 }, async () => {
  const ids = await insertTasks(db, Array.from({ length: 3 }, () => ({ status: S.ProcessingFailed, ageSeconds: 600, organizationId: 7 })));
  const created = await createBulk(db, {
    organizationId: 7, idempotencyKey: "held", requestHash: "held", selection: { taskIds: ids.length, force: false }, force: false,
    requestedBy: "test:held", httpRequestId: null, items: { taskIds: ids },
  }, 1);
  if (!("bulk" in created)) throw new Error("the fixture bulk was not created");
  const { bulk } = created;
  await db.$executeRaw`UPDATE bulk_reprocesses SET created_at = now() - interval '1 hour' WHERE id = ${bulk.id}`;
  const lock = await holdRowLock("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", [ids[1]]);
  try {
    const slice = applyBulkSlice(db, { organizationId: 7, ratePerSecond: 100, sliceMax: 25, thresholds: thresholdRows(buildRules()) });
    await expect(slice).rejects.toThrow(/lock timeout/);
    await expect(slice).rejects.not.toThrow(/current transaction is aborted/);
  } finally {
    await lock.release();
  }
  expect(await db.$queryRaw`SELECT count(*)::int AS n FROM task_events WHERE kind = 'REPROCESSED'`).toEqual([{ n: 0 }]);
  expect(await db.$queryRaw`SELECT count(*)::int AS n FROM bulk_reprocess_items WHERE outcome IS NOT NULL`).toEqual([{ n: 0 }]);
});

/** A bulk of these tasks, accepted an hour ago (its schedule never holds a slice back). */
async function bulkOf(organizationId: number, key: string, ids: number[]): Promise<string> {
  const bulk: NewBulk = { organizationId, idempotencyKey: key, requestHash: key, selection: { taskIds: ids.length, force: false }, force: false, requestedBy: "test", httpRequestId: null, items: { taskIds: ids } };
  const created = await createBulk(db, bulk, 10);
  if (!("bulk" in created)) throw new Error("the fixture bulk was not created");
  await db.$executeRaw`UPDATE bulk_reprocesses SET created_at = now() - interval '1 hour' WHERE id = ${created.bulk.id}`;
  return created.bulk.id;
}

it("the loop logs an organization's failing slice once, not once a tick, while another organization's bulk runs; and its recovery once", { timeout: 30_000 }, async () => {
  const stuck = await insertTasks(db, Array.from({ length: 3 }, () => ({ status: S.ProcessingFailed, ageSeconds: 600, organizationId: 7 })));
  const other = await insertTasks(db, Array.from({ length: 100 }, () => ({ status: S.ProcessingFailed, ageSeconds: 600, organizationId: 8 })));
  await bulkOf(7, "stuck", stuck);
  await bulkOf(8, "other", other);
  const { logger, lines } = captureLogger();
  let failed = 0;
  const lock = await holdRowLock("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", [stuck[0]]);
  // Organization 8's bulk goes on at 1 task a second (and stays running throughout) while organization 7's slice fails each tick.
  const loop = startBulkLoop({ db, logger, rules: buildRules(), ratePerSecond: 1, onSlice: (result) => void (result === "failed" && failed++) });
  try {
    await expect.poll(() => failed, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(3);
    const messages = lines.map((l) => l.msg);
    expect(messages.filter((m) => m.startsWith("bulk reprocess slice failed"))).toHaveLength(1);
    expect(messages.filter((m) => m === "bulk reprocess loop recovered")).toHaveLength(0);
  } finally {
    await lock.release();
  }
  try {
    await expect.poll(async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM bulk_reprocess_items WHERE task_id = ${stuck[0]}::int AND outcome IS NOT NULL`)[0]!.n, { timeout: 10_000 }).toBe(1);
    expect(lines.filter((l) => l.msg === "bulk reprocess loop recovered")).toEqual([expect.objectContaining({ organizationId: 7 })]);
  } finally {
    await loop.close();
  }
});

it("a bulk accepted 30 days ago (held all that time, at BULK_REPROCESS_RATE=1000) still gets its slice: its schedule does not overflow", async () => {
  const ids = await insertTasks(db, Array.from({ length: 3 }, () => ({ status: S.ProcessingFailed, ageSeconds: 600, organizationId: 7 })));
  const bulkId = await bulkOf(7, "old", ids);
  await db.$executeRaw`UPDATE bulk_reprocesses SET created_at = now() - interval '30 days' WHERE id = ${bulkId}`;
  const slice = await applyBulkSlice(db, { organizationId: 7, ratePerSecond: 1000, sliceMax: 250, thresholds: thresholdRows(buildRules()) });
  expect(slice).toEqual({ kind: "processed", bulkId, applied: 3, refused: 0, notFound: 0, done: true });
});
