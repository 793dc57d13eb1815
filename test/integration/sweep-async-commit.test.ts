// A sweep's batch commits without waiting for its WAL to reach the disk (synchronous_commit = off,
// for that transaction only), so its row locks are not held through the flush; and nothing leaves
// the database on the strength of such a commit before it is on disk: the outbox pins a batch of
// events with a synchronous commit, which flushes the WAL up to itself, so every event the batch
// can carry is durable before the relay reads it. See docs/reliability.md, "Asynchronous commit".
// What each batch's transaction ran with is recorded by a statement trigger on the test database.
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDb } from "../../src/platform/db/client.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { adaptiveBatchSize } from "../../src/sweep/batch-size.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { claimTarget, ensureTargets, pinBatch, QUEUE_TARGET } from "../../src/outbox/sql/targets.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";

const db = testDb();
// One connection: what the batches set must not outlive them on the connection the pool hands out next.
const single = createDb(testDatabaseUrl(), { max: 1 });
const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
const rules = buildRules({ ProcessingInProgress: { hold: false } });
const OVER_THRESHOLD = 5 * 3600;

beforeEach(async () => {
  await resetTables(db);
  await db.$executeRawUnsafe(`CREATE TABLE IF NOT EXISTS test_commit_modes (mode text NOT NULL)`);
  await db.$executeRawUnsafe(`TRUNCATE test_commit_modes`);
  await db.$executeRawUnsafe(
    `CREATE OR REPLACE FUNCTION test_record_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO test_commit_modes VALUES (current_setting('synchronous_commit')); RETURN NULL; END $$`,
  );
  await db.$executeRawUnsafe(`CREATE TRIGGER record_commit_mode AFTER UPDATE ON tasks FOR EACH STATEMENT EXECUTE FUNCTION test_record_commit_mode()`);
});
afterEach(() => db.$executeRawUnsafe(`DROP TRIGGER IF EXISTS record_commit_mode ON tasks`));
afterAll(async () => {
  await db.$executeRawUnsafe(`DROP TABLE IF EXISTS test_commit_modes`);
  await Promise.all([db.$disconnect(), single.$disconnect(), pool.end()]);
});

const modes = async () => (await db.$queryRawUnsafe<{ mode: string }[]>(`SELECT mode FROM test_commit_modes`)).map((r) => r.mode);

describe("a sweep's batches commit asynchronously", () => {
  it("when the worker's batches (capped by their time budget) revert tasks, each commits with synchronous_commit off, and the connection goes back to on", async () => {
    await insertTasks(single, Array.from({ length: 300 }, () => ({ status: S.ProcessingInProgress, ageSeconds: OVER_THRESHOLD })));
    const result = await runSweep(single, rules, { sweepId: "async-commit", dryRun: false, batchSize: 100, batchSizing: adaptiveBatchSize(100, 1000) });
    expect(result).toMatchObject({ reverted: 300, failed: {} });

    const seen = await modes();
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(new Set(seen)).toEqual(new Set(["off"]));
    // SET LOCAL: the pool's one connection is back to the server's setting for whatever runs on it next.
    expect(await single.$queryRawUnsafe(`SELECT current_setting('synchronous_commit') AS mode`)).toEqual([{ mode: "on" }]);
  });

  it("when a rate hold wraps a batch in its own transaction, that commit is asynchronous too", async () => {
    await insertTasks(single, Array.from({ length: 50 }, () => ({ status: S.ProcessingInProgress, ageSeconds: OVER_THRESHOLD })));
    // The default rules: ProcessingInProgress has the default rate hold (1,000 reverts an hour), which 50 do not reach.
    const held = buildRules();
    expect(held.find((r) => r.status === S.ProcessingInProgress)?.rateHold).not.toBeNull();
    const result = await runSweep(single, held, { sweepId: "async-commit-rate", dryRun: false, batchSize: 100 });
    expect(result).toMatchObject({ reverted: 50, failed: {} });
    expect(new Set(await modes())).toEqual(new Set(["off"]));
    expect(await single.$queryRawUnsafe(`SELECT current_setting('synchronous_commit') AS mode`)).toEqual([{ mode: "on" }]);
  });

  it("when the outbox pins a batch of events, every event it can carry is already on disk: the pin's synchronous commit flushed the WAL past their commits", async () => {
    await ensureTargets(pool, [{ target: QUEUE_TARGET, organizationId: null }]);
    await insertTasks(single, Array.from({ length: 200 }, () => ({ status: S.ProcessingInProgress, ageSeconds: OVER_THRESHOLD })));
    const result = await runSweep(single, rules, { sweepId: "async-commit-pin", dryRun: false, batchSize: 100, batchSizing: adaptiveBatchSize(100, 1000) });
    expect(result.reverted).toBe(200);
    // Every batch has committed (asynchronously): its commit record is behind this position of the WAL.
    const { rows: written } = await pool.query<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn()::text AS lsn`);

    const claimed = await claimTarget(pool, QUEUE_TARGET, "async-commit-test", 5000);
    expect(claimed).not.toBeNull();
    const pinned = await pinBatch(pool, QUEUE_TARGET, "async-commit-test");
    expect(pinned?.snapTo).toEqual(expect.any(String));
    const { rows } = await pool.query<{ durable: boolean }>(`SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn AS durable`, [written[0]!.lsn]);
    expect(rows[0]!.durable).toBe(true);
  });
});
