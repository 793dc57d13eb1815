// GET …/sdtask/events and the console's trail read a page of the task's own events, not the month's
// partition and not the task's whole trail. One task has 20,000 events (a task reprocessed in a
// loop for weeks), another 200, among 200,000 of other tasks: each page's statement — the one the
// read API and the console send — runs under EXPLAIN (ANALYZE); the rows its scans of task_events
// produce or throw away are held to the page (task_events_task_id_id_idx, a range per partition).
// Until that index is built on every partition (`prisma migrate deploy` creates it unfinished;
// `watchdog migrate` finishes it), a page reads the task's events and never the partition's, and
// the hourly retention says so.
import { Writable } from "node:stream";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Prisma from "../../src/platform/db/sql.js";
import { listTaskEvents, taskEventsPageSql } from "../../src/api/read-api/sql/list-task-events.js";
import { migrate } from "../../src/platform/db/migrate.js";
import { runRetention } from "../../src/outbox/retention.js";
import { createLogger } from "../../src/platform/logger.js";
import { resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { planCost } from "../support/query-plan.js";

const db = testDb();
const MIGRATIONS = new URL("../../prisma/migrations", import.meta.url).pathname;
/** Rows of task_events (any partition) the statement read. */
const rowsRead = async (sql: Prisma.Sql) => (await planCost(db, sql, "task_events")).rowsRead;
const BUSY = 42;
const SMALL = 43;
const OTHERS = 200_000;
const BUSY_EVENTS = 20_000;
const SMALL_EVENTS = 200;
const PAGE = 100;

const insert = (taskOf: string, count: number) =>
  db.$executeRawUnsafe(`
    INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, created_at)
    SELECT ${taskOf}, 1, 1000, 'AUTO_REVERTED', 41, 40, 'stuck in ProcessingInProgress', 'watchdog', now()
    FROM generate_series(1, ${count}) g`);

/** The id after which the task's events hold `remaining` more. */
const cursorLeaving = async (taskId: number, remaining: number) =>
  (
    (await db.$queryRaw<{ id: bigint }[]>`
      SELECT id FROM task_events WHERE task_id = ${taskId}::int ORDER BY id DESC OFFSET ${remaining}::int LIMIT 1`) as [{ id: bigint }]
  )[0].id;

/** Every event of the task, page by page through the cursor. */
async function allPages(taskId: number, limit: number): Promise<bigint[]> {
  const ids: bigint[] = [];
  let after = 0n;
  for (;;) {
    const page = await listTaskEvents(db, taskId, after, limit);
    ids.push(...page.events.map((e) => e.id));
    if (!page.more) return ids;
    after = page.events.at(-1)!.id;
  }
}

const indexValid = async () =>
  (await db.$queryRaw<{ valid: boolean | null }[]>`
    SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('task_events_task_id_id_idx')) AS valid`)[0]!.valid;

beforeAll(async () => {
  await resetTables(db);
  await insert(`1000 + g % 5000`, OTHERS / 2);
  await insert(String(BUSY), BUSY_EVENTS);
  await insert(`1000 + g % 5000`, OTHERS / 2);
  await insert(String(SMALL), SMALL_EVENTS);
  await db.$executeRawUnsafe("ANALYZE task_events");
}, 60_000);

afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
  await pool.end();
});

const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
/** The hourly retention run, as one replica runs it: what it reports, and the warnings it logs. */
async function retention(): Promise<{ unfinishedIndexes: string[] | undefined; warnings: string[] }> {
  let out = "";
  const logger = createLogger({ level: "warn", destination: new Writable({ write: (c, _e, done) => ((out += String(c)), done()) }) });
  const run = await runRetention({ pool, owner: "task-events-bounds", logger, retentionMs: 90 * 86_400_000, leaseMs: 1, relaysQueue: false, relaysWebhooks: false });
  return { unfinishedIndexes: run?.unfinishedIndexes, warnings: out.split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

describe("a task with 20,000 of 220,200 events", () => {
  it("oldest first: the first, a middle and the last page each read one page of rows", async () => {
    expect(await indexValid(), "task_events_task_id_id_idx built on every partition").toBe(true);
    for (const after of [0n, await cursorLeaving(BUSY, BUSY_EVENTS / 2), await cursorLeaving(BUSY, 10)]) {
      expect(await rowsRead(taskEventsPageSql(BUSY, after, PAGE + 1, "oldest")), `page after ${after}: rows of task_events read`).toBeLessThanOrEqual(PAGE + 1);
    }
  });

  it("newest first (the console's trail): the latest events only", async () => {
    expect(await rowsRead(taskEventsPageSql(BUSY, 0n, 5, "newest")), "rows of task_events read").toBeLessThanOrEqual(5);
  });

  it("following the cursor lists every event of the task once, in id order", async () => {
    const ids = await allPages(BUSY, 500);
    expect(ids).toHaveLength(BUSY_EVENTS);
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
    const newest = await db.$queryRaw<{ id: bigint }[]>(taskEventsPageSql(BUSY, 0n, 3, "newest"));
    expect(newest.map((r) => r.id)).toEqual(ids.slice(-3).reverse());
  });
});

describe("while task_events_task_id_id_idx is unfinished (as `prisma migrate deploy` leaves it)", () => {
  beforeAll(async () => {
    await db.$executeRawUnsafe(`DROP INDEX task_events_task_id_id_idx`);
    await db.$executeRawUnsafe(`CREATE INDEX task_events_task_id_id_idx ON ONLY task_events (task_id, id)`);
  });
  afterAll(async () => {
    await migrate(testDatabaseUrl(), MIGRATIONS);
    expect(await indexValid()).toBe(true);
  });

  it("a page reads the task's events, never the partition's, and the pages are the same", async () => {
    expect(await indexValid()).toBe(false);
    expect(await rowsRead(taskEventsPageSql(SMALL, 0n, PAGE + 1, "oldest")), "small task: rows read").toBeLessThanOrEqual(SMALL_EVENTS);
    expect(await rowsRead(taskEventsPageSql(SMALL, 0n, 5, "newest")), "small task, newest first: rows read").toBeLessThanOrEqual(SMALL_EVENTS);
    expect(await rowsRead(taskEventsPageSql(BUSY, await cursorLeaving(BUSY, 1_000), PAGE + 1, "oldest")), "busy task, late cursor: rows read").toBeLessThanOrEqual(BUSY_EVENTS);
    const ids = await allPages(BUSY, 500);
    expect(ids).toHaveLength(BUSY_EVENTS);
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
  });

  it("the hourly retention warns that it is unfinished, and says what to run", async () => {
    const { unfinishedIndexes, warnings } = await retention();
    expect(unfinishedIndexes).toEqual(["task_events_task_id_id_idx"]);
    expect(warnings).toEqual([expect.stringMatching(/^task_events indexes are not built on every partition .*run `watchdog migrate` to finish them/)]);
  });

  it("`watchdog migrate` finishes it on every partition, and a page is one page of rows again", async () => {
    const result = await migrate(testDatabaseUrl(), MIGRATIONS);
    expect(result.applied).toEqual([]);
    expect(result.finishedPartitionIndexes.length).toBeGreaterThan(0);
    expect(await indexValid()).toBe(true);
    expect(await rowsRead(taskEventsPageSql(BUSY, 0n, PAGE + 1, "oldest"))).toBeLessThanOrEqual(PAGE + 1);
    expect(await retention()).toEqual({ unfinishedIndexes: [], warnings: [] });
  });
});
