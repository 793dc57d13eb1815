// A page of the outbox reads about a page of events, however many the batch holds. task_events is
// partitioned, so "the next 500 in (txid, id) order" is either a merge of each partition's index
// stopped after 500 rows or "read the whole batch and sort it"; the planner took the second for a
// batch of new events its statistics had not seen (every page of a 100,000-event batch read all of
// them). Counted here with PostgreSQL's own row counters, not a clock.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEventsPage, type BatchPosition } from "../../src/outbox/sql/read-events.js";
import { resetTables, testDatabaseUrl, testDb } from "../support/db.js";

const EVENTS = 20_000;
const PAGE = 500;
const db = testDb();
const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
let batch: BatchPosition;

beforeAll(async () => {
  await resetTables(db);
  await pool.query("ANALYZE task_events"); // statistics of an empty table: the batch below is news to them
  const snapFrom = (await pool.query<{ s: string }>("SELECT pg_current_snapshot()::text AS s")).rows[0]!.s;
  await pool.query(
    `INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, details)
     SELECT n, 1 + n % 10, 1, 'AUTO_REVERTED', 41, 40, 'stuck', 'watchdog', '{"restartCount": 1}'::jsonb FROM generate_series(1, $1::int) AS n`,
    [EVENTS],
  );
  const snapTo = (await pool.query<{ s: string }>("SELECT pg_current_snapshot()::text AS s")).rows[0]!.s;
  batch = { snapFrom, snapTo, afterTxid: "0", afterEventId: "0" };
});

afterAll(async () => {
  await pool.end();
  await db.$disconnect();
});

/** Runs `read` in a transaction and returns what it returned and how many task_events rows it read. */
async function rowsRead<T>(read: (client: pg.PoolClient) => Promise<T>, from: pg.Pool = pool): Promise<{ result: T; read: number }> {
  const client = await from.connect();
  // The counters hold what this backend has not yet reported (PostgreSQL 15 reports at most once a
  // second), so earlier transactions may be in them too: the difference is this read's.
  const counted = async () =>
    Number(
      (
        await client.query<{ n: string }>(
          `SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)::text AS n
           FROM pg_stat_xact_user_tables WHERE relname LIKE 'task\\_events%'`,
        )
      ).rows[0]!.n,
    );
  try {
    await client.query("BEGIN");
    const before = await counted();
    const result = await read(client);
    const after = await counted();
    await client.query("COMMIT");
    return { result, read: after - before };
  } finally {
    client.release();
  }
}

describe("readEventsPage on a batch of 20,000 new events", () => {
  it("every organization's page of 500 reads about 500 rows, in (txid, id) order", async () => {
    const { result, read } = await rowsRead((c) => readEventsPage(c, batch, null, "full", PAGE));
    expect(result).toHaveLength(PAGE);
    expect(result.map((r) => Number(r.id))).toEqual([...result.map((r) => Number(r.id))].sort((a, b) => a - b));
    expect(read).toBeLessThan(2 * PAGE);
  });

  it("one organization's page reads about a page once the statistics have seen the batch (autovacuum's analyze)", async () => {
    // Seen fresh on both connections of the pool (a function's plan is kept per connection): the case
    // after this one reads the same batch with these statistics.
    await pool.query("ANALYZE task_events");
    for (let organizationId = 1; organizationId <= 10; organizationId++) {
      // A connection of its own each time: the function's plan is made afresh, with these statistics.
      const fresh = new pg.Pool({ connectionString: testDatabaseUrl(), max: 1 });
      try {
        const page = await rowsRead((c) => readEventsPage(c, batch, organizationId, "full", PAGE), fresh);
        expect(page.result).toHaveLength(PAGE);
        expect(page.read, `organization ${organizationId} (a tenth of the batch): rows read`).toBeLessThan(2 * PAGE);
      } finally {
        await fresh.end();
      }
    }
  });

  it("one organization's page and the routing page do too, and the next page starts after the last", async () => {
    const first = await rowsRead((c) => readEventsPage(c, batch, 7, "full", PAGE));
    expect(first.result).toHaveLength(PAGE);
    expect(new Set(first.result.map((r) => r.organization_id))).toEqual(new Set([7]));
    expect(first.read).toBeLessThan(2 * PAGE);
    const last = first.result.at(-1)!;
    const second = await rowsRead((c) => readEventsPage(c, { ...batch, afterTxid: last.txid, afterEventId: last.id }, 7, "full", PAGE));
    expect(Number(second.result[0]!.id)).toBeGreaterThan(Number(last.id));
    expect(second.read).toBeLessThan(2 * PAGE);
    const routes = await rowsRead((c) => readEventsPage(c, batch, null, "routing", 5000));
    expect(routes.result).toHaveLength(5000);
    expect(routes.read).toBeLessThan(2 * 5000);
  });
});
