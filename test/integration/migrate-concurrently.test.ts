// Migrations a large platform can run live: an index built CONCURRENTLY (a one-statement
// migration, run outside a transaction as Prisma runs it) lets writers go on while it builds; a
// lock wait past lock_timeout is retried, then reported with nothing applied; an INVALID index
// left by a failed or interrupted build is dropped and built again. Each test has its own
// database and its own migrations folder; the "long transaction" is a real one on another connection.
import { describe, expect, it } from "vitest";
import { migrate } from "../../src/platform/db/migrate.js";
import { migrationFixtures } from "../support/migration-fixtures.js";

const { adminUrl, freshDatabaseUrl, migrations, connect, one, openWriter: writerOn, until, lockWaiters, indexState } = migrationFixtures("watchdog_migrate_cic");

const TABLE = `CREATE TABLE items (id serial PRIMARY KEY, n integer NOT NULL);
INSERT INTO items (n) SELECT g % 1000 FROM generate_series(1, 20000) g;`;

/** Another writer caught mid-transaction: it has written to `items` and not committed. */
const openWriter = (url: string) => writerOn(url, "INSERT INTO items (n) VALUES (-1)");

describe("a CREATE INDEX CONCURRENTLY migration", () => {
  it("while it waits for and builds the index, another writer inserts into the table without waiting; a plain CREATE INDEX would have blocked it", async () => {
    const url = freshDatabaseUrl();
    const base = { "001_items": TABLE };
    await migrate(url, migrations(base));

    for (const [name, sql, writerBlocked] of [
      ["002_items_n_plain", `CREATE INDEX "items_n_plain_idx" ON "items"("n");`, true],
      ["002_items_n", `-- a comment is fine\nCREATE INDEX CONCURRENTLY "items_n_idx" ON "items"("n");\n`, false],
    ] as const) {
      const pending = await openWriter(url);
      const run = migrate(url, migrations({ ...base, [name]: sql }));
      // The migration is now queued behind the open transaction (a lock wait on `items` or on that transaction).
      await until("the migration to wait", async () => (await lockWaiters(url)) > 0);
      const writer = await connect(url);
      await writer.query("SET lock_timeout = '1s'");
      const insert = await writer.query("INSERT INTO items (n) VALUES (42) RETURNING id").then(() => "inserted", (e: { code?: string }) => `refused ${e.code}`);
      expect(insert, name).toBe(writerBlocked ? "refused 55P03" : "inserted");
      await pending.commit();
      const result = await run;
      expect(result.applied, name).toEqual([name]);
    }
    expect(await indexState(url, "items_n_idx")).toBe("valid");
    // Prisma's bookkeeping, as for any migration: finished, one step.
    const rows = await one<{ migration_name: string; finished: boolean; applied_steps_count: number }>(
      url,
      `SELECT migration_name, finished_at IS NOT NULL AS finished, applied_steps_count FROM _prisma_migrations WHERE migration_name = '002_items_n'`,
    );
    expect(rows).toEqual([{ migration_name: "002_items_n", finished: true, applied_steps_count: 1 }]);
  });

  it("when a long transaction outlasts lock_timeout in every attempt, it is retried with backoff, then reported naming the INVALID index left; nothing is applied, and the next run drops that index and builds it", async () => {
    const url = freshDatabaseUrl();
    const base = { "001_items": TABLE };
    await migrate(url, migrations(base));
    const pending = await openWriter(url);
    const progress: string[] = [];
    const dir = migrations({ ...base, "002_items_n": `CREATE INDEX CONCURRENTLY "items_n_idx" ON "items"("n");` });
    const failure = await migrate(url, dir, { lockTimeoutMs: 200, lockAttempts: 3, lockRetryDelayMs: 20, onProgress: (m) => progress.push(m) }).catch((e: Error) => e);
    expect((failure as Error).message).toMatch(
      /^migration 002_items_n waited longer than lock_timeout \(200 ms\) for a lock in each of 3 attempts: a long transaction holds the table .* Nothing was applied; the INVALID index "items_n_idx" its build left stays until then .* the next run drops it and builds it again\. Run `watchdog migrate` again once it ends$/,
    );
    expect(progress.filter((m) => m.includes("reached in attempt"))).toEqual([
      "migration 002_items_n: lock_timeout (200 ms) reached in attempt 1 of 3; nothing applied, trying again in 20 ms",
      "migration 002_items_n: lock_timeout (200 ms) reached in attempt 2 of 3; nothing applied, trying again in 40 ms",
    ]);
    expect(await indexState(url, "items_n_idx")).toBe("INVALID");
    expect(await one(url, `SELECT 1 FROM _prisma_migrations WHERE migration_name = '002_items_n'`)).toEqual([]);

    // Once the transaction ends, the same command drops the invalid index and builds it.
    await pending.commit();
    expect(await migrate(url, dir)).toMatchObject({ applied: ["002_items_n"], droppedInvalidIndexes: ['"items_n_idx"'] });
    expect(await indexState(url, "items_n_idx")).toBe("valid");
  });

  it("when the long transaction ends between attempts, the retry applies it", async () => {
    const url = freshDatabaseUrl();
    const base = { "001_items": TABLE };
    await migrate(url, migrations(base));
    const pending = await openWriter(url);
    let committed: Promise<void> | undefined;
    const dir = migrations({ ...base, "002_items_n": `CREATE INDEX CONCURRENTLY "items_n_idx" ON "items"("n");` });
    const result = await migrate(url, dir, { lockTimeoutMs: 200, lockAttempts: 3, lockRetryDelayMs: 20, onProgress: () => void (committed ??= pending.commit()) });
    await committed;
    expect(result.applied).toEqual(["002_items_n"]);
    expect(await indexState(url, "items_n_idx")).toBe("valid");
  });

  it("an ordinary (transactional) migration that times out on a lock is retried the same way", async () => {
    const url = freshDatabaseUrl();
    const base = { "001_items": TABLE };
    await migrate(url, migrations(base));
    const pending = await openWriter(url);
    const progress: string[] = [];
    const dir = migrations({ ...base, "002_items_flag": `ALTER TABLE items ADD COLUMN flag boolean;\nALTER TABLE items ADD COLUMN note text;` });
    await expect(migrate(url, dir, { lockTimeoutMs: 150, lockAttempts: 2, lockRetryDelayMs: 10, onProgress: (m) => progress.push(m) })).rejects.toThrow(/in each of 2 attempts/);
    expect(progress).toHaveLength(1);
    expect(await one(url, `SELECT column_name FROM information_schema.columns WHERE table_name = 'items' AND column_name IN ('flag', 'note')`)).toEqual([]);
    await pending.commit();
    expect((await migrate(url, dir)).applied).toEqual(["002_items_flag"]);
  });
});

describe("an INVALID index left behind", () => {
  it("by a build that was cut off (the Job's deadline): the next run drops it, marks that attempt rolled back, and builds it again", async () => {
    const url = freshDatabaseUrl();
    const base = { "001_items": TABLE };
    const dir = migrations({ ...base, "002_items_n": `CREATE INDEX CONCURRENTLY "items_n_idx" ON "items"("n");` });
    await migrate(url, migrations(base));
    // What a killed build leaves: the "started" row and an INVALID index of that name (made here by a failed unique build).
    const client = await connect(url);
    await client.query(`INSERT INTO items (n) VALUES (1)`);
    await client.query(`CREATE UNIQUE INDEX CONCURRENTLY "items_n_idx" ON items (n)`).catch(() => undefined);
    await client.query(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) SELECT gen_random_uuid(), encode(sha256(convert_to($1, 'UTF8')), 'hex'), '002_items_n', now() - interval '10 minutes'`,
      [`CREATE INDEX CONCURRENTLY "items_n_idx" ON "items"("n");`],
    );
    expect(await indexState(url, "items_n_idx")).toBe("INVALID");

    const progress: string[] = [];
    const result = await migrate(url, dir, { onProgress: (m) => progress.push(m) });
    expect(result).toMatchObject({ applied: ["002_items_n"], droppedInvalidIndexes: ['"items_n_idx"'] });
    expect(progress[0]).toMatch(/^migration 002_items_n: an earlier run was interrupted while building/);
    expect(await indexState(url, "items_n_idx")).toBe("valid");
    const rows = await one<{ finished: boolean; rolled_back: boolean }>(url, `SELECT finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back FROM _prisma_migrations WHERE migration_name = '002_items_n' ORDER BY started_at`);
    expect(rows).toEqual([{ finished: false, rolled_back: true }, { finished: true, rolled_back: false }]);
  });

  it("by a build that fails on the data (a unique index over duplicates): dropped, the failure recorded as Prisma does, and the next run refuses until resolved", async () => {
    const url = freshDatabaseUrl();
    const base = { "001_items": TABLE };
    const dir = migrations({ ...base, "002_items_n_unique": `CREATE UNIQUE INDEX CONCURRENTLY "items_n_key" ON "items"("n");` });
    await expect(migrate(url, dir)).rejects.toThrow(/^migration 002_items_n_unique failed: could not create unique index "items_n_key"/);
    expect(await indexState(url, "items_n_key")).toBe("absent");
    await expect(migrate(url, dir)).rejects.toThrow(/002_items_n_unique started but did not finish \(Prisma P3009\)/);
  });
});

describe("a migration that says CONCURRENTLY", () => {
  it("beside other statements is refused before any migration runs, saying why and what to do", async () => {
    const url = freshDatabaseUrl();
    const dir = migrations({ "001_items": TABLE, "002_mixed": `ALTER TABLE items ADD COLUMN flag boolean;\nCREATE INDEX CONCURRENTLY items_flag_idx ON items (flag);` });
    await expect(migrate(url, dir)).rejects.toThrow(
      /^migration 002_mixed uses CONCURRENTLY beside 1 other statement\(s\): PostgreSQL runs CONCURRENTLY only outside a transaction, and Prisma runs a migration outside one only when it is a single statement\. Give the CREATE INDEX CONCURRENTLY .* a migration of its own; nothing was applied$/,
    );
    expect(await one(adminUrl, `SELECT 1 FROM pg_database WHERE datname = '${new URL(url).pathname.slice(1)}'`)).toEqual([]);
  });
});
