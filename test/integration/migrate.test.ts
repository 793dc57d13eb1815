// The offline migration runner: Prisma's bookkeeping, idempotent, safe under concurrency,
// refusing edited and half-applied migrations. Each test works on a database of its own.
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { migrate } from "../../src/platform/db/migrate.js";
import { MIGRATIONS_DIR } from "../../src/cli/paths.js";

const adminUrl = inject("adminDatabaseUrl");
/** Every migration of the repository, in the order they apply. */
const ALL = readdirSync(MIGRATIONS_DIR, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
const created: string[] = [];

function freshDatabaseUrl(): string {
  const name = `watchdog_migrate_${randomBytes(4).toString("hex")}`;
  created.push(name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

function copyOfMigrations(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "migrations-")), "migrations");
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  for (const name of created) await query(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
});

describe("migrate", () => {
  it("creates a missing database, applies every migration once, and is a no-op the second time", async () => {
    const url = freshDatabaseUrl();
    const first = await migrate(url, MIGRATIONS_DIR);
    expect(first).toMatchObject({ createdDatabase: true, applied: ALL, alreadyApplied: [] });
    const second = await migrate(url, MIGRATIONS_DIR);
    expect(second).toMatchObject({ createdDatabase: false, applied: [], alreadyApplied: ALL });
  });

  it("keeps Prisma's own bookkeeping: checksum = sha256 of migration.sql, finished, one step", async () => {
    const url = freshDatabaseUrl();
    await migrate(url, MIGRATIONS_DIR);
    const rows = await query<{ migration_name: string; checksum: string; finished: boolean; applied_steps_count: number; rolled_back_at: Date | null }>(
      url,
      `SELECT migration_name, checksum, finished_at IS NOT NULL AS finished, applied_steps_count, rolled_back_at FROM _prisma_migrations`,
    );
    const sha = (name: string) => createHash("sha256").update(readFileSync(join(MIGRATIONS_DIR, name, "migration.sql"))).digest("hex");
    expect(rows.sort((a, b) => a.migration_name.localeCompare(b.migration_name))).toEqual(
      ALL.map((name) => ({ migration_name: name, checksum: sha(name), finished: true, applied_steps_count: 1, rolled_back_at: null })),
    );
  });

  it("run over several connections at once (as several replicas would), applies each migration exactly once", async () => {
    const url = freshDatabaseUrl();
    const results = await Promise.all([1, 2, 3, 4].map(() => migrate(url, MIGRATIONS_DIR)));
    expect(results.flatMap((r) => r.applied).sort()).toEqual(ALL);
    const rows = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM _prisma_migrations`);
    expect(rows[0]!.n).toBe(ALL.length);
  });

  it("waiting on another session's migration lock (a stuck Job, another replica), says so at an interval, naming that session; then goes on", async () => {
    const url = freshDatabaseUrl();
    await migrate(url, MIGRATIONS_DIR);
    // A session of its own holds Prisma's migration lock, as another `watchdog migrate` or `prisma migrate deploy` would.
    const holder = new pg.Client({ connectionString: url, application_name: "stuck-migrate-job" });
    await holder.connect();
    try {
      const [{ pid }] = (await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows as [{ pid: number }];
      await holder.query("SELECT pg_advisory_lock(72707369)");
      const progress: string[] = [];
      const run = migrate(url, MIGRATIONS_DIR, { lockWaitReportMs: 300, onProgress: (m) => progress.push(m) });
      const deadline = Date.now() + 5000;
      while (progress.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(progress.length, "progress lines while it waits").toBeGreaterThanOrEqual(2);
      for (const line of progress) {
        expect(line).toMatch(
          new RegExp(
            `^waiting for the migration lock \\(PostgreSQL advisory lock 72707369, Prisma's\\): another migrate holds it — pid ${pid}, application_name "stuck-migrate-job", connected since \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z, idle since \\d{4}-[0-9T:.-]+Z; waited \\d+ s so far\\. It goes on once that session releases the lock or ends \\(pg_terminate_backend\\(${pid}\\) ends a stuck one\\)$`,
          ),
        );
      }
      await holder.query("SELECT pg_advisory_unlock(72707369)");
      expect(await run).toMatchObject({ applied: [], alreadyApplied: ALL });
    } finally {
      await holder.end();
    }
  });

  it("refuses a migration edited after it was applied, and changes nothing", async () => {
    const url = freshDatabaseUrl();
    const dir = copyOfMigrations();
    await migrate(url, dir);
    appendFileSync(join(dir, "20261128000000_init", "migration.sql"), "\n-- an innocent-looking edit\n");
    await expect(migrate(url, dir)).rejects.toThrow(/migration 20261128000000_init was changed after it was applied .* add a new migration instead/);
  });

  it("applies a failing migration not at all, records its logs, and refuses to go on until it is resolved (P3009)", async () => {
    const url = freshDatabaseUrl();
    const dir = copyOfMigrations();
    mkdirSync(join(dir, "20270101000000_broken"));
    writeFileSync(join(dir, "20270101000000_broken", "migration.sql"), `CREATE TABLE half_applied (id int);\nSELECT no_such_function();\n`);
    await expect(migrate(url, dir)).rejects.toThrow(/migration 20270101000000_broken failed: function no_such_function\(\) does not exist/);
    const tables = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'half_applied'`);
    expect(tables[0]!.n).toBe(0);
    const rows = await query<{ finished: boolean; logs: string }>(url, `SELECT finished_at IS NOT NULL AS finished, logs FROM _prisma_migrations WHERE migration_name = '20270101000000_broken'`);
    expect(rows[0]).toMatchObject({ finished: false, logs: expect.stringContaining("no_such_function") });
    await expect(migrate(url, dir)).rejects.toThrow(/started but did not finish \(Prisma P3009\).*prisma migrate resolve --rolled-back 20270101000000_broken/);
  });

  it("DDL that waits behind a long transaction gives up after lock_timeout, records nothing, and applies on the next run", async () => {
    const url = freshDatabaseUrl();
    const dir = copyOfMigrations();
    await migrate(url, dir);
    mkdirSync(join(dir, "29990101000000_alter"));
    writeFileSync(join(dir, "29990101000000_alter", "migration.sql"), "ALTER TABLE tasks ADD COLUMN lock_probe int;\n");
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM tasks LIMIT 1"); // ACCESS SHARE until the transaction ends: the ALTER must wait
      const started = Date.now();
      await expect(migrate(url, dir, { lockTimeoutMs: 300, lockAttempts: 1 })).rejects.toThrow(/migration 29990101000000_alter waited longer than lock_timeout \(300 ms\) for a lock in each of 1 attempts: .* Nothing was applied/);
      expect(Date.now() - started).toBeLessThan(5000);
      const rows = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM _prisma_migrations WHERE migration_name = '29990101000000_alter'`);
      expect(rows[0]!.n).toBe(0);
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
    }
    expect((await migrate(url, dir)).applied).toEqual(["29990101000000_alter"]);
  });
});
