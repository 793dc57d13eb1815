// A webhook replay by time range (`watchdog events replay --organization N --since … --until …`, the
// console's form) reads the range's events, not the range's months: a tenant with 30,000 events over
// three weeks beside 90,000 of other organizations, and the statement requestReplay sends
// (replayRangeSql) run under EXPLAIN (ANALYZE). The rows its scans of task_events produce or throw
// away are held to the range's events, every organization's, plus BRIN's granularity at each end
// (task_events_created_at_brin_idx: blocks of 32 pages); a small tenant's, to its own events.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Prisma from "../../src/platform/db/sql.js";
import { replayRangeSql } from "../../src/outbox/replay.js";
import { MAX_REPLAY_EVENTS } from "../../src/outbox/replay-request.js";
import { resetTables, testDb } from "../support/db.js";
import { planCost } from "../support/query-plan.js";

const db = testDb();
const rowsRead = async (sql: Prisma.Sql) => (await planCost(db, sql, "task_events")).rowsRead;
const BIG = 1;
const SMALL = 2;
const BIG_EVENTS = 30_000; // one a minute, the newest a minute ago
const LIMIT = MAX_REPLAY_EVENTS + 1; // what requestReplay asks for: one more than a replay may send
const MINUTE = 60_000;

let now: number;

beforeAll(async () => {
  await resetTables(db);
  now = (await db.$queryRaw<{ t: Date }[]>`SELECT date_trunc('minute', now()) AS t`)[0]!.t.getTime();
  // In time order, as they are written: the big tenant's events among everyone else's.
  await db.$executeRaw`
    INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, created_at)
    SELECT g % 1000, CASE WHEN g % 4 = 0 THEN ${BIG}::int ELSE 3 + g % 500 END, 1000, 'AUTO_REVERTED', 41, 40, 'stuck', 'watchdog',
           ${new Date(now)}::timestamptz - (${BIG_EVENTS * 4}::int - g) * interval '15 seconds'
    FROM generate_series(0, ${BIG_EVENTS * 4 - 1}::int) g`;
  await db.$executeRaw`
    INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, created_at)
    SELECT 5000 + g, ${SMALL}::int, 1000, 'AUTO_REVERTED', 41, 40, 'stuck', 'watchdog', ${new Date(now)}::timestamptz - g * interval '1 day'
    FROM generate_series(1, 20) g`;
  // As autovacuum leaves it: the BRIN index's block ranges summarised (autosummarize), statistics taken.
  await db.$executeRawUnsafe("VACUUM (ANALYZE) task_events");
  const [{ rows, pages }] = await db.$queryRaw<[{ rows: number; pages: number }]>`
    SELECT sum(reltuples)::float8 AS rows, sum(relpages)::float8 AS pages FROM pg_class WHERE relname LIKE 'task_events_%' AND relkind = 'r'`;
  rowsPerBlockRange = Math.ceil((rows / pages) * 32);
}, 60_000);

/** Rows in one BRIN block range (32 pages): what a range read may take beyond its own, at each end. */
let rowsPerBlockRange = 0;
/** Every organization's events in the range. */
const rangeEvents = async (since: Date, until: Date) =>
  (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events WHERE created_at >= ${since} AND created_at < ${until}`)[0]!.n;

afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
});

/** The organization's events in the range, by a plain filter (what the selection must equal). */
const expected = async (organizationId: number, since: Date, until: Date) =>
  (
    await db.$queryRaw<{ event_id: string }[]>`
      SELECT id::text AS event_id FROM task_events WHERE organization_id = ${organizationId}::int AND created_at >= ${since} AND created_at < ${until} ORDER BY id`
  ).map((r) => r.event_id);

describe("a replay's selection by time range, a tenant with 30,000 events among 120,020", () => {
  it("the big tenant's hour: its 60 events, reading the hour's events (241) and not its 30,000", async () => {
    const s = { organizationId: BIG, since: new Date(now - 10 * 24 * 60 * MINUTE), until: new Date(now - 10 * 24 * 60 * MINUTE + 60 * MINUTE) };
    const selected = (await db.$queryRaw<{ event_id: string }[]>(replayRangeSql(s, LIMIT))).map((r) => r.event_id);
    expect(selected).toHaveLength(60);
    expect([...selected].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))).toEqual(await expected(BIG, s.since, s.until));
    expect(await rangeEvents(s.since, s.until)).toBe(241); // one every 15 s, both ends on one
    expect(rowsPerBlockRange, "rows per BRIN block range").toBeLessThan(5_000);
    expect(await rowsRead(replayRangeSql(s, LIMIT)), "rows of task_events read").toBeLessThanOrEqual(241 + 2 * rowsPerBlockRange);
  });

  it("a small tenant's month: its events, reading at most twice as many rows", async () => {
    const s = { organizationId: SMALL, since: new Date(now - 30 * 24 * 60 * MINUTE), until: new Date(now) };
    const selected = await db.$queryRaw<{ event_id: string }[]>(replayRangeSql(s, LIMIT));
    expect(selected.map((r) => r.event_id).sort()).toEqual((await expected(SMALL, s.since, s.until)).sort());
    expect(selected.length).toBe(20);
    expect(await rowsRead(replayRangeSql(s, LIMIT)), "rows of task_events read").toBeLessThanOrEqual(2 * 20);
  });

  it("the big tenant's three weeks (30,000 events, over the limit): one more than a replay may send, so the request is refused", async () => {
    const s = { organizationId: BIG, since: new Date(now - 30 * 24 * 60 * MINUTE), until: new Date(now) };
    const selected = (await db.$queryRaw<{ event_id: string }[]>(replayRangeSql(s, LIMIT))).map((r) => r.event_id);
    expect(selected).toHaveLength(LIMIT);
    expect(selected).toEqual((await expected(BIG, s.since, s.until)).slice(0, LIMIT)); // the first in time, which here is id order
  });
});
