// A CONCURRENTLY migration (an index on a table too big to lock): sent alone, outside a
// transaction, so the platform's writes go on while it builds; refused when mixed with other
// statements (it could not run inside the transaction they need); a failed build is recorded as
// unfinished (Prisma's P3009), never as applied. Each test works on a database of its own.
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { migrate, MigrationError } from "../../src/platform/db/migrate.js";
import { MIGRATIONS_DIR } from "../../src/cli/paths.js";

const adminUrl = inject("adminDatabaseUrl");
const created: string[] = [];

function freshDatabaseUrl(): string {
  const name = `watchdog_migrate_cc_${randomBytes(4).toString("hex")}`;
  created.push(name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The repository's migrations plus one more, named to apply last. */
function withExtra(sql: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), "migrations-")), "migrations");
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  mkdirSync(join(dir, "29991231000000_extra"));
  writeFileSync(join(dir, "29991231000000_extra", "migration.sql"), sql);
  return dir;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  for (const name of created) await query(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
});

describe("a CONCURRENTLY migration", () => {
  it("runs outside a transaction (PostgreSQL refuses CONCURRENTLY inside one), builds a valid index, and is recorded as applied", async () => {
    const url = freshDatabaseUrl();
    await migrate(url, MIGRATIONS_DIR);
    const dir = withExtra(`-- an index built live\nCREATE INDEX CONCURRENTLY "tasks_extra_idx" ON "tasks"("display_name");\n`);
    expect((await migrate(url, dir)).applied).toEqual(["29991231000000_extra"]);
    const [index] = await query<{ valid: boolean }>(url, `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'tasks_extra_idx'`);
    expect(index).toEqual({ valid: true });
    const [row] = await query<{ finished: boolean }>(url, `SELECT finished_at IS NOT NULL AS finished FROM _prisma_migrations WHERE migration_name = '29991231000000_extra'`);
    expect(row).toEqual({ finished: true });
  });

  it("mixed with other statements, is refused before anything runs, naming the fix", async () => {
    const url = freshDatabaseUrl();
    const dir = withExtra(`CREATE TABLE "extra" (id int);\nCREATE INDEX CONCURRENTLY "extra_idx" ON "extra"(id);\n`);
    await expect(migrate(url, dir)).rejects.toThrow(new MigrationError("migration 29991231000000_extra mixes a CONCURRENTLY statement with others: PostgreSQL cannot run it inside a transaction, so give it a migration of its own"));
    expect(await query(url.replace(/\/[^/]*$/, "/postgres"), `SELECT 1 FROM pg_database WHERE datname = $1`, [new URL(url).pathname.slice(1)])).toEqual([]);
  });

  it("that fails is recorded as unfinished with its error (P3009), and the next run refuses to go on", async () => {
    const url = freshDatabaseUrl();
    await migrate(url, MIGRATIONS_DIR);
    const dir = withExtra(`CREATE INDEX CONCURRENTLY "tasks_bad_idx" ON "tasks"("no_such_column");\n`);
    await expect(migrate(url, dir)).rejects.toThrow(/migration 29991231000000_extra failed: column "no_such_column" does not exist\. It ran outside a transaction/);
    const [row] = await query<{ finished: boolean; logs: string }>(url, `SELECT finished_at IS NOT NULL AS finished, logs FROM _prisma_migrations WHERE migration_name = '29991231000000_extra'`);
    expect(row).toEqual({ finished: false, logs: 'column "no_such_column" does not exist' });
    await expect(migrate(url, dir)).rejects.toThrow(/P3009/);
  });
});
