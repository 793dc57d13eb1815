// Retention of task_events (src/outbox/retention.ts): a month older than EVENTS_RETENTION is
// dropped whole once every relay target has passed its events; an undelivered event keeps its
// month whatever its age; partitions are created ahead; old reprocess request ids go too. Time
// moves by the `now` given to the run and by timestamps written in SQL.
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { runRetention } from "../../src/outbox/retention.js";
import { createEventPartitions } from "../../src/outbox/sql/partitions.js";
import { ensureTargets, QUEUE_TARGET } from "../../src/outbox/sql/targets.js";
import { createOutboxPool } from "../../src/outbox/outbox-pool.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";

const db = testDb();
const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
afterAll(async () => {
  await pool.end();
  await db.$disconnect();
});

const DAY = 86_400_000;
const monthsAgo = (n: number) => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - n, 15));
};
const partitions = async () =>
  (await pool.query<{ name: string }>(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'task_events'::regclass ORDER BY 1`)).rows.map((r) => r.name);
const options = { pool, owner: "retention-test", logger: pino({ level: "silent" }), retentionMs: 90 * DAY, leaseMs: 5000, relaysQueue: true, relaysWebhooks: false };

beforeEach(async () => {
  await resetTables(db);
  // A month of five months ago, as an installation that has run for a while has.
  await createEventPartitions(pool, monthsAgo(5), 0);
});

describe("events retention", () => {
  it("when a month older than the retention holds an undelivered event it is kept; once the relay has passed it, the month is dropped and the others stay", async () => {
    await ensureTargets(pool, [{ target: QUEUE_TARGET, organizationId: null }]);
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    const old = monthsAgo(5).toISOString();
    await pool.query(`INSERT INTO task_events (task_id, kind, from_status, reason, actor, created_at) SELECT $1, 'FLAGGED', 50, 'old ' || g, 'test', $2::timestamptz FROM generate_series(1, 50) g`, [task, old]);
    await pool.query(`INSERT INTO task_events (task_id, kind, from_status, reason, actor) VALUES ($1, 'FLAGGED', 50, 'recent', 'test')`, [task]);
    const oldPartition = `task_events_${old.slice(0, 4)}_${old.slice(5, 7)}`;
    expect(await partitions()).toContain(oldPartition);

    const kept = await runRetention(options);
    expect(kept?.dropped).toEqual([]);
    expect((await pool.query(`SELECT count(*)::int AS n FROM task_events`)).rows[0].n).toBe(51);

    // The queue's relay passed every event (its position is now).
    await pool.query(`UPDATE outbox_cursors SET snap_from = pg_current_snapshot()::text, snap_to = NULL WHERE target = 'queue'`);
    const run = await runRetention(options);
    expect(run?.dropped).toEqual([oldPartition]);
    expect(await partitions()).not.toContain(oldPartition);
    expect((await pool.query(`SELECT reason FROM task_events`)).rows).toEqual([{ reason: "recent" }]);
  });

  it("when a webhook organization is still pending behind an old event, its month is kept", async () => {
    await ensureTargets(pool, [{ target: "webhook:7", organizationId: 7 }]);
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    await pool.query(`INSERT INTO task_events (task_id, kind, from_status, reason, actor, created_at) VALUES ($1, 'FLAGGED', 50, 'old', 'test', $2)`, [task, monthsAgo(5)]);
    await pool.query(`UPDATE outbox_cursors SET pending = true WHERE target = 'webhook:7'`);
    expect((await runRetention({ ...options, relaysQueue: false }))?.dropped).toEqual([]);
    await pool.query(`UPDATE outbox_cursors SET pending = false WHERE target = 'webhook:7'`);
    expect((await runRetention({ ...options, relaysQueue: false }))?.dropped).toHaveLength(1);
  });

  it("creates the partitions of the next three months, and deletes request ids older than the retention", async () => {
    const now = new Date();
    const ahead = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 6, 10));
    const run = await runRetention({ ...options, relaysQueue: false }, ahead);
    expect(run?.created.length).toBeGreaterThanOrEqual(1);
    const names = await partitions();
    for (let n = 0; n <= 3; n += 1) {
      const m = new Date(Date.UTC(ahead.getUTCFullYear(), ahead.getUTCMonth() + n, 1));
      expect(names).toContain(`task_events_${m.getUTCFullYear()}_${String(m.getUTCMonth() + 1).padStart(2, "0")}`);
    }
    await pool.query(`INSERT INTO task_event_requests (request_id, event_id, created_at) VALUES ('old', 1, now() - interval '100 days'), ('new', 2, now())`);
    expect((await runRetention({ ...options, relaysQueue: false }))?.requestIdsDeleted).toBe(1);
    expect((await pool.query(`SELECT request_id FROM task_event_requests`)).rows).toEqual([{ request_id: "new" }]);
  });

  it("when the default partition holds an event of a month still to be created, that month is left to it and the retention goes on: the other months are created, an old month is dropped", async () => {
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    // A hand-written timestamp two years ahead: no partition covers it, so it lands in task_events_default.
    const now = new Date();
    const stray = new Date(Date.UTC(now.getUTCFullYear() + 2, now.getUTCMonth(), 15));
    await pool.query(`INSERT INTO task_events (task_id, kind, from_status, reason, actor, created_at) VALUES ($1, 'FLAGGED', 50, 'stray', 'test', $2)`, [task, stray]);
    expect((await pool.query(`SELECT count(*)::int AS n FROM task_events_default`)).rows[0].n).toBe(1);
    const month = (d: Date, n: number) => {
      const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));
      return `task_events_${m.getUTCFullYear()}_${String(m.getUTCMonth() + 1).padStart(2, "0")}`;
    };
    // Two months before the stray one: the run creates that month and the three after it (the stray month among them).
    const at = new Date(Date.UTC(stray.getUTCFullYear(), stray.getUTCMonth() - 2, 10));
    // Retention up to the end of the month five months ago (that month goes, nothing later does).
    const fiveAgo = monthsAgo(5);
    const cutoff = Date.UTC(fiveAgo.getUTCFullYear(), fiveAgo.getUTCMonth() + 1, 2);
    const run = await runRetention({ ...options, relaysQueue: false, retentionMs: at.getTime() - cutoff }, at);
    expect(run?.created).toEqual([month(at, 0), month(at, 1), month(at, 3)]);
    expect(run?.dropped).toEqual([month(fiveAgo, 0)]);
    expect(await partitions()).not.toContain(month(stray, 0));
    expect((await pool.query(`SELECT reason FROM task_events_default`)).rows).toEqual([{ reason: "stray" }]);
    for (const name of [month(at, 0), month(at, 1), month(at, 3)]) await pool.query(`DROP TABLE "${name}"`);
  });

  it("when a long reader holds task_events, the drop gives up within a second instead of stalling every insert behind its lock for lock_timeout (15 s)", async () => {
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    // A long read (a report, pg_dump) holds task_events; DROP TABLE of a partition needs it exclusively.
    const reader = await pool.connect();
    const writer = new pg.Client({ connectionString: testDatabaseUrl() });
    await writer.connect();
    // The worker's own pool, with its lock_timeout.
    const outboxPool = createOutboxPool(testDatabaseUrl(), 2, pino({ level: "silent" }));
    try {
      await reader.query(`BEGIN; SELECT count(*) FROM task_events`);
      const run = runRetention({ ...options, pool: outboxPool, relaysQueue: false }).then(
        () => "ran",
        (error: Error) => error.message,
      );
      // The drop is queued for its lock; an insert arrives behind it.
      await expect.poll(async () => (await writer.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock'`)).rows[0].n, { timeout: 5000, interval: 20 }).toBe(1);
      const started = performance.now();
      await writer.query(`INSERT INTO task_events (task_id, kind, from_status, reason, actor) VALUES ($1, 'FLAGGED', 50, 'behind the drop', 'test')`, [task]);
      expect(performance.now() - started).toBeLessThan(3000);
      expect(await run).toMatch(/lock timeout/);
    } finally {
      await reader.query("ROLLBACK");
      reader.release();
      await writer.end();
      await outboxPool.end();
    }
    // The next run, with the reader gone, drops it.
    expect((await runRetention({ ...options, relaysQueue: false }))?.dropped).toHaveLength(1);
  });

  it("when another replica holds the retention lease, a run does nothing", async () => {
    await runRetention(options);
    expect(await runRetention({ ...options, owner: "another" })).toBeNull();
  });
});
