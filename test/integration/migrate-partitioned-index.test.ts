// An index on a partitioned table, as a large installation can take it live: the migration creates it
// ON ONLY the parent (instant, INVALID), and the runner builds it on each partition CONCURRENTLY and
// attaches it — writers go on meanwhile — until the parent is valid. A database `prisma migrate
// deploy` left unfinished is finished by the next run; a partition's build that fails or waits too
// long is reported, the partitions done stay done, and the next run finishes the rest. Each test has
// its own database and migrations folder; the "long transaction" is a real one on another connection.
import { describe, expect, it } from "vitest";
import { migrate } from "../../src/platform/db/migrate.js";
import { migrationFixtures } from "../support/migration-fixtures.js";

const { freshDatabaseUrl, migrations, connect, one, openWriter, until, lockWaiters, indexState } = migrationFixtures("watchdog_migrate_parts");

const TABLE = `CREATE TABLE events (id bigserial, k integer NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2026_11 PARTITION OF events FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE events_2026_12 PARTITION OF events FOR VALUES FROM ('2026-12-01') TO ('2027-01-01');
CREATE TABLE events_default PARTITION OF events DEFAULT;
INSERT INTO events (k, at) SELECT g % 100, timestamptz '2026-11-15' + g * interval '1 minute' FROM generate_series(1, 60000) g;
INSERT INTO events (k, at) VALUES (1, '2030-01-01');`;
const INDEX = `-- ON ONLY: the partitions are the runner's\nCREATE INDEX "events_k_id_idx" ON ONLY "events"("k", "id");\n`;
const PARTITION_INDEXES = ["events_2026_11_k_id_idx", "events_2026_12_k_id_idx", "events_default_k_id_idx"];

/** Each partition of `events`, with the index attached to events_k_id_idx (null: none). */
const attached = (url: string) =>
  one<{ partition: string; index: string | null }>(
    url,
    `SELECT p.relname AS partition,
            (SELECT x.indexrelid::regclass::text FROM pg_index x JOIN pg_inherits hi ON hi.inhrelid = x.indexrelid
             WHERE x.indrelid = p.oid AND hi.inhparent = 'events_k_id_idx'::regclass) AS index
     FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhrelid WHERE h.inhparent = 'events'::regclass ORDER BY 1`,
  );

describe("a migration that creates an index ON ONLY a partitioned table", () => {
  it("is finished on every partition, CONCURRENTLY: while a partition's build waits for an open transaction, another writer inserts into that partition without waiting", async () => {
    const url = freshDatabaseUrl();
    await migrate(url, migrations({ "001_events": TABLE }));
    // Written to the partition directly: the migration's ON ONLY statement locks the parent alone, and goes through.
    const pending = await openWriter(url, `INSERT INTO events_2026_12 (k, at) VALUES (-1, '2026-12-05')`);
    const progress: string[] = [];
    const run = migrate(url, migrations({ "001_events": TABLE, "002_events_k_id": INDEX }), { onProgress: (m) => progress.push(m) });
    await until("the build on events_2026_12 to wait for the open transaction", async () => (await lockWaiters(url)) > 0);
    expect(progress.at(-1)).toMatch(/CONCURRENTLY events_2026_12_k_id_idx/);
    const writer = await connect(url);
    await writer.query("SET lock_timeout = '1s'");
    expect(await writer.query(`INSERT INTO events (k, at) VALUES (42, '2026-12-06') RETURNING id`).then(() => "inserted", (e: { code?: string }) => `refused ${e.code}`)).toBe("inserted");
    await pending.commit();

    const result = await run;
    expect(result).toMatchObject({ applied: ["002_events_k_id"], finishedPartitionIndexes: PARTITION_INDEXES, droppedInvalidIndexes: [] });
    expect(progress).toEqual(PARTITION_INDEXES.map((i) => expect.stringMatching(new RegExp(`^building index events_k_id_idx on partition \\w+ \\(CREATE INDEX CONCURRENTLY ${i}\\)$`))));
    expect(await indexState(url, "events_k_id_idx")).toBe("valid");
    expect(await attached(url)).toEqual(PARTITION_INDEXES.map((index) => ({ partition: index.replace(/_k_id_idx$/, ""), index })));

    // A month created afterwards gets the index from PostgreSQL; the next run has nothing to do.
    await one(url, `CREATE TABLE events_2027_01 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2027-02-01')`);
    expect(await indexState(url, "events_k_id_idx")).toBe("valid");
    expect((await attached(url)).find((p) => p.partition === "events_2027_01")?.index).toBe("events_2027_01_k_id_idx");
    expect(await migrate(url, migrations({ "001_events": TABLE, "002_events_k_id": INDEX }))).toMatchObject({ applied: [], finishedPartitionIndexes: [] });
  });

  it("left unfinished by `prisma migrate deploy` (applied, the parent INVALID): the next run finishes it, applying nothing", async () => {
    const url = freshDatabaseUrl();
    const dir = migrations({ "001_events": TABLE, "002_events_k_id": INDEX });
    await migrate(url, dir);
    // What Prisma leaves: the migration recorded, its one statement run, nothing built on the partitions.
    await one(url, `DROP INDEX events_k_id_idx; CREATE INDEX "events_k_id_idx" ON ONLY "events"("k", "id")`);
    expect(await indexState(url, "events_k_id_idx")).toBe("INVALID");
    expect((await attached(url)).map((p) => p.index)).toEqual([null, null, null]);

    expect(await migrate(url, dir)).toMatchObject({ applied: [], finishedPartitionIndexes: PARTITION_INDEXES });
    expect(await indexState(url, "events_k_id_idx")).toBe("valid");
  });

  it("an INVALID partition index an earlier build left (a failed or cut-off build) is dropped and built again", async () => {
    const url = freshDatabaseUrl();
    await migrate(url, migrations({ "001_events": TABLE }));
    await one(url, `CREATE UNIQUE INDEX CONCURRENTLY events_2026_12_k_id_idx ON events_2026_12 (k)`).catch(() => undefined);
    expect(await indexState(url, "events_2026_12_k_id_idx")).toBe("INVALID");

    const result = await migrate(url, migrations({ "001_events": TABLE, "002_events_k_id": INDEX }));
    expect(result).toMatchObject({ applied: ["002_events_k_id"], droppedInvalidIndexes: ["events_2026_12_k_id_idx"], finishedPartitionIndexes: PARTITION_INDEXES });
    expect(await indexState(url, "events_k_id_idx")).toBe("valid");
  });

  it("when a long transaction outlasts lock_timeout in every attempt, it is reported with what to do; the partitions done stay done, and the next run finishes the rest", async () => {
    const url = freshDatabaseUrl();
    const dir = migrations({ "001_events": TABLE, "002_events_k_id": INDEX });
    await migrate(url, migrations({ "001_events": TABLE }));
    // A transaction writing to December: November is built first, December's build waits for it.
    const pending = await openWriter(url, `INSERT INTO events_2026_12 (k, at) VALUES (-1, '2026-12-05')`);
    const progress: string[] = [];
    const failure = await migrate(url, dir, { lockTimeoutMs: 200, lockAttempts: 2, lockRetryDelayMs: 20, onProgress: (m) => progress.push(m) }).catch((e: Error) => e);
    expect((failure as Error).message).toMatch(
      /^every migration is applied, but an index could not be finished: index events_k_id_idx on partition events_2026_12: .*\. It waited longer than lock_timeout \(200 ms\) in each of 2 attempts: a long transaction holds the partition \(look in pg_stat_activity for old xact_start\)\. The partitions done so far stay done; run `watchdog migrate` again to finish the rest/,
    );
    expect(progress.filter((m) => m.includes("reached in attempt"))).toEqual(["index events_k_id_idx on partition events_2026_12: lock_timeout reached in attempt 1 of 2; trying again in 20 ms"]);
    expect(await indexState(url, "events_k_id_idx")).toBe("INVALID");
    expect((await attached(url)).map((p) => p.index)).toEqual(["events_2026_11_k_id_idx", null, null]);
    expect(await one(url, `SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY 1`)).toEqual([{ migration_name: "001_events" }, { migration_name: "002_events_k_id" }]);

    await pending.commit();
    expect(await migrate(url, dir)).toMatchObject({
      applied: [],
      droppedInvalidIndexes: ["events_2026_12_k_id_idx"],
      finishedPartitionIndexes: ["events_2026_12_k_id_idx", "events_default_k_id_idx"],
    });
    expect(await indexState(url, "events_k_id_idx")).toBe("valid");
  });
});
