// The hourly retention (src/outbox/retention.ts) deletes the bulk reprocesses that finished — DONE
// or CANCELLED — more than EVENTS_RETENTION ago, with their items, in bounded statements: a running
// bulk is never touched whatever its age, a recently finished one stays, and a bulk larger than
// one run's work is finished by the next run. Once deleted, the bulk is not found (GET answers 404)
// and its Idempotency-Key starts a new bulk. Finding the old bulks reads the partial index
// bulk_reprocesses_finished_at_idx, not the table. Time moves by timestamps written in SQL.
import pg from "pg";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { runRetention } from "../../src/outbox/retention.js";
import { DELETE_BULK_ITEMS_SQL, EXPIRED_BULKS_SQL } from "../../src/outbox/sql/bulk-retention.js";
import { createBulk, type NewBulk } from "../../src/reprocess/sql/create-bulk.js";
import { findBulk } from "../../src/reprocess/sql/find-bulk.js";
import { captureLogger } from "../support/reprocess-harness.js";
import { resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { nodes, type PlanNode } from "../support/query-plan.js";

const db = testDb();
const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
afterAll(async () => {
  await resetTables(db);
  await pool.end();
  await db.$disconnect();
});
beforeEach(() => resetTables(db));

const DAY = 86_400_000;
const ORG = 7;
const { logger, lines } = captureLogger();
const options = { pool, owner: "bulk-retention-test", logger, retentionMs: 90 * DAY, leaseMs: 1, relaysQueue: false, relaysWebhooks: false };

const newBulk = (key: string, items: number): NewBulk => ({
  organizationId: ORG, idempotencyKey: key, requestHash: key, selection: { taskIds: items, force: false }, force: false,
  requestedBy: "test:retention", httpRequestId: null, items: { taskIds: Array.from({ length: items }, (_, i) => 1000 + i) },
});

/** A bulk accepted as the product accepts one (createBulk), then put in `state`, finished `finishedDaysAgo` days ago (null: not finished). */
async function bulk(key: string, items: number, state: "RUNNING" | "DONE" | "CANCELLED", finishedDaysAgo: number | null): Promise<string> {
  const created = await createBulk(db, newBulk(key, items), 1000);
  if (!("bulk" in created) || !created.created) throw new Error("the fixture bulk was not created");
  await pool.query(
    `UPDATE bulk_reprocesses SET state = $2::bulk_reprocess_state, created_at = now() - interval '400 days',
            finished_at = CASE WHEN $3::int IS NULL THEN NULL ELSE now() - $3::int * interval '1 day' END WHERE id = $1`,
    [created.bulk.id, state, finishedDaysAgo],
  );
  return created.bulk.id;
}

const itemsOf = async (bulkId: string) =>
  (await pool.query<{ n: number; first: number | null; last: number | null }>(`SELECT count(*)::int AS n, min(position) AS first, max(position) AS last FROM bulk_reprocess_items WHERE bulk_id = $1`, [bulkId])).rows[0]!;
const bulkIds = async () => (await pool.query<{ id: string }>(`SELECT id FROM bulk_reprocesses ORDER BY id`)).rows.map((r) => r.id).sort();

describe("the retention of bulk reprocesses", () => {
  it("deletes an old DONE and an old CANCELLED bulk with their items; a RUNNING bulk of the same age and a recently finished one stay whole; the key is free again", async () => {
    const done = await bulk("old-done", 30, "DONE", 100);
    const cancelled = await bulk("old-cancelled", 7, "CANCELLED", 100);
    // A running bulk never finished, and one whose finished_at says 100 days: only its state counts.
    const running = await bulk("old-running", 12, "RUNNING", null);
    const runningStamped = await bulk("old-running-stamped", 4, "RUNNING", 100);
    const recent = await bulk("recent-done", 5, "DONE", 10);
    lines.length = 0;

    const run = await runRetention(options);
    expect(run).toMatchObject({ bulksDeleted: 2, bulkItemsDeleted: 37 });
    expect(await bulkIds()).toEqual([running, runningStamped, recent].sort());
    expect(await itemsOf(done)).toEqual({ n: 0, first: null, last: null });
    expect(await itemsOf(cancelled)).toEqual({ n: 0, first: null, last: null });
    expect(await itemsOf(running)).toEqual({ n: 12, first: 1, last: 12 });
    expect(await itemsOf(runningStamped)).toEqual({ n: 4, first: 1, last: 4 });
    expect(await itemsOf(recent)).toEqual({ n: 5, first: 1, last: 5 });
    expect(lines.filter((l) => l.bulksDeleted !== undefined)).toEqual([expect.objectContaining({ level: 30, bulksDeleted: 2, bulkItemsDeleted: 37 })]);

    // GET of the bulk answers 404 (findBulk finds nothing); its Idempotency-Key starts a new bulk.
    expect(await findBulk(db, ORG, done)).toBeNull();
    const again = await createBulk(db, newBulk("old-done", 3), 1000);
    expect(again).toMatchObject({ created: true });
    expect("bulk" in again && again.bulk.id).not.toBe(done);

    // Nothing left past the retention: the next run deletes nothing.
    expect(await runRetention(options)).toMatchObject({ bulksDeleted: 0, bulkItemsDeleted: 0 });
  });

  it("a bulk with more items than one run may delete is finished by the next run; the bulks before it go whole", async () => {
    const limits = { itemsPerStatement: 10, statementsPerRun: 2 };
    const small = await bulk("small", 3, "DONE", 200);
    const cancelled = await bulk("cancelled", 4, "CANCELLED", 150);
    const big = await bulk("big", 25, "DONE", 100);

    // One statement for the two small bulks, one for the big bulk's first ten items.
    const first = await runRetention({ ...options, bulkLimits: limits });
    expect(first).toMatchObject({ bulksDeleted: 2, bulkItemsDeleted: 17 });
    expect(await bulkIds()).toEqual([big]);
    expect(await itemsOf(small)).toMatchObject({ n: 0 });
    expect(await itemsOf(cancelled)).toMatchObject({ n: 0 });
    expect(await itemsOf(big)).toEqual({ n: 15, first: 11, last: 25 });

    const second = await runRetention({ ...options, bulkLimits: limits });
    expect(second).toMatchObject({ bulksDeleted: 1, bulkItemsDeleted: 15 });
    expect(await bulkIds()).toEqual([]);
    expect((await pool.query(`SELECT count(*)::int AS n FROM bulk_reprocess_items`)).rows[0].n).toBe(0);
  });

  it("a run stopped in the middle of a bulk's items goes on from its lowest position left", async () => {
    const big = await bulk("big", 45, "DONE", 100);
    const limits = { itemsPerStatement: 10, statementsPerRun: 2 };
    expect(await runRetention({ ...options, bulkLimits: limits })).toMatchObject({ bulksDeleted: 0, bulkItemsDeleted: 20 });
    expect(await itemsOf(big)).toEqual({ n: 25, first: 21, last: 45 });
    expect(await runRetention({ ...options, bulkLimits: limits })).toMatchObject({ bulksDeleted: 0, bulkItemsDeleted: 20 });
    expect(await runRetention({ ...options, bulkLimits: limits })).toMatchObject({ bulksDeleted: 1, bulkItemsDeleted: 5 });
    expect(await bulkIds()).toEqual([]);
  });
});


/**
 * The statement as sent, with its parameters, under EXPLAIN ANALYZE in a transaction rolled back: the
 * scans of `table` (not the DELETE's own node), each with the index it reads (for a bitmap heap scan, its bitmap index scans') and
 * the rows it produced or threw away.
 */
async function scansOf(sql: string, params: unknown[], table: string): Promise<{ node: string; indexes: string[]; rows: number }[]> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
    return nodes(rows[0]!["QUERY PLAN"][0].Plan)
      .filter((n) => n["Relation Name"] === table && n["Node Type"] !== "ModifyTable")
      .map((n) => ({
        node: n["Node Type"],
        indexes: [n["Index Name"], ...(n.Plans ?? []).map((child) => child["Index Name"])].filter((i): i is string => i !== undefined),
        rows: (n["Actual Rows"] + (n["Rows Removed by Filter"] ?? 0)) * n["Actual Loops"],
      }));
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
}

describe("among 100,000 bulks (80,000 finished in the last 80 days, 19,950 running, 50 finished 100 days ago), ANALYZEd", () => {
  it("finding the old finished bulks reads the partial index's old entries only; deleting a range of items reads that range of the primary key", async () => {
    await pool.query(`
      INSERT INTO bulk_reprocesses (organization_id, idempotency_key, request_hash, selection, requested_by, state, total, created_at, finished_at)
      SELECT 1 + g % 10000, 'k' || g, 'h', '{}', 'test',
             CASE WHEN g <= 200 OR g > 80250 THEN 'RUNNING' WHEN g % 3 = 0 THEN 'CANCELLED' ELSE 'DONE' END::bulk_reprocess_state, 1,
             now() - interval '400 days',
             CASE WHEN g <= 200 OR g > 80250 THEN NULL WHEN g <= 250 THEN now() - interval '100 days' - g * interval '1 minute'
                  ELSE now() - (g % 80) * interval '1 day' END
      FROM generate_series(1, 100000) g`);
    const [old] = (await pool.query<{ id: string }>(`SELECT id FROM bulk_reprocesses WHERE finished_at < now() - interval '90 days' LIMIT 1`)).rows;
    await pool.query(`INSERT INTO bulk_reprocess_items (bulk_id, position, organization_id, task_id) SELECT $1, g, 1, g FROM generate_series(1, 20000) g`, [old!.id]);
    await pool.query(`ANALYZE bulk_reprocesses; ANALYZE bulk_reprocess_items`);
    const cutoff = new Date(Date.now() - 90 * DAY);

    const find = await scansOf(EXPIRED_BULKS_SQL, [cutoff, 100], "bulk_reprocesses");
    expect(find).toEqual([{ node: expect.stringMatching(/^(Index Scan|Bitmap Heap Scan)$/), indexes: ["bulk_reprocesses_finished_at_idx"], rows: 50 }]);

    const range = await scansOf(DELETE_BULK_ITEMS_SQL, [old!.id, 5000, 10000, cutoff], "bulk_reprocess_items");
    expect(range).toEqual([{ node: expect.stringMatching(/^(Index Scan|Bitmap Heap Scan)$/), indexes: ["bulk_reprocess_items_pkey"], rows: 5000 }]);
  });
});
