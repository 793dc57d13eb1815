// The webhook delivery's group commit of positions (src/outbox/position-writer.ts) when a write
// fails: the positions and the delivered counts noted meanwhile are all written by the next one.
// The failure is real: the writer's backend is terminated while its write waits on a row lock.
import pg from "pg";
import { afterEach, beforeEach, expect, it } from "vitest";
import { PositionWriter } from "../../src/outbox/position-writer.js";
import type { Db } from "../../src/platform/db/client.js";
import { holdTransaction, resetTables, testDatabaseUrl, testDb, waitForLockWaiter } from "../support/db.js";

const TARGET = "webhook:7";
const SNAP = "100:100:";
let db: Db;
let pool: pg.Pool;

beforeEach(async () => {
  db = testDb();
  await resetTables(db);
  await db.$executeRaw`
    INSERT INTO outbox_cursors (target, organization_id, snap_from, snap_to, pending, lease_owner, lease_expires_at)
    VALUES (${TARGET}, 7, '1:1:', ${SNAP}, true, 'me', now() + interval '1 hour')`;
  pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 1 });
  pool.on("error", () => undefined); // the terminated connection
});
afterEach(async () => {
  await pool.end();
  await db.$disconnect();
});

it("a failed write loses none of the counts noted while it ran: the next write carries them with the newest position", async () => {
  const errors: unknown[] = [];
  const writer = new PositionWriter(pool, "me", 60_000, (error) => errors.push(error));
  const lock = await holdTransaction(`SELECT 1 FROM outbox_cursors WHERE target = '${TARGET}' FOR UPDATE`);
  try {
    writer.note(TARGET, SNAP, { txid: "50", id: "3" }, 3); // its write starts and waits on the lock
    await waitForLockWaiter(db);
    writer.note(TARGET, SNAP, { txid: "50", id: "5" }, 2); // delivered while that write waits
    await db.$executeRaw`
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE outbox_cursors%'`;
  } finally {
    await lock.release();
  }
  expect(await writer.flush()).toBe(true);
  expect(errors).toHaveLength(1); // the terminated write
  const [row] = await db.$queryRaw<{ after_event_id: bigint; delivered_count: bigint }[]>`
    SELECT after_event_id, delivered_count FROM outbox_cursors WHERE target = ${TARGET}`;
  expect({ after: Number(row!.after_event_id), delivered: Number(row!.delivered_count) }).toEqual({ after: 5, delivered: 5 });
});
