// Applies prisma/migrations with Prisma's own bookkeeping (_prisma_migrations), so that
// `prisma migrate deploy` on a machine with the schema engine sees the same history as applied.
// Safe to run twice or from two processes at once (Prisma's advisory lock); refuses edited
// or half-applied migrations instead of guessing.
import { createHash, randomUUID } from "node:crypto";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";

const PRISMA_MIGRATE_LOCK_ID = 72707369;

export class MigrationError extends Error {
  override name = "MigrationError";
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
  createdDatabase: boolean;
}

/**
 * How long a migration's DDL may wait for a table lock. An `ALTER TABLE` queued behind a long
 * transaction blocks every later query on that table while it waits; past this it gives up (and
 * the migration is not applied: run it again when the transaction is gone).
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 10_000;

export interface MigrateOptions {
  lockTimeoutMs?: number;
}

export async function migrate(databaseUrl: string, migrationsDir: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = readMigrations(migrationsDir);
  const { client, createdDatabase } = await connectCreatingIfMissing(databaseUrl);
  try {
    await takeMigrateLock(client);
    // Set after the advisory lock, which may rightly wait for another migrating replica.
    await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(options.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS))}`);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" varchar(36) PRIMARY KEY NOT NULL,
      "checksum" varchar(64) NOT NULL,
      "finished_at" timestamptz,
      "migration_name" varchar(255) NOT NULL,
      "logs" text,
      "rolled_back_at" timestamptz,
      "started_at" timestamptz NOT NULL DEFAULT now(),
      "applied_steps_count" integer NOT NULL DEFAULT 0)`);
    const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null; rolled_back_at: Date | null }>(
      `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`,
    );
    const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed) {
      throw new MigrationError(
        `migration ${failed.migration_name} started but did not finish (Prisma P3009). Fix the database by hand, then mark it with ` +
          `\`prisma migrate resolve --rolled-back ${failed.migration_name}\` (or --applied) before migrating again.`,
      );
    }
    const finished = new Map(rows.filter((r) => r.finished_at !== null).map((r) => [r.migration_name, r.checksum]));
    const applied: string[] = [];
    const alreadyApplied: string[] = [];
    for (const m of migrations) {
      const known = finished.get(m.name);
      if (known !== undefined) {
        if (known !== m.checksum) {
          throw new MigrationError(
            `migration ${m.name} was changed after it was applied (checksum ${known.slice(0, 12)}… in the database, ${m.checksum.slice(0, 12)}… on disk). ` +
              `Never edit an applied migration: restore it and add a new migration instead.`,
          );
        }
        alreadyApplied.push(m.name);
        continue;
      }
      const id = randomUUID();
      if (m.concurrently) {
        await applyOutsideTransaction(client, id, m);
        applied.push(m.name);
        continue;
      }
      // The bookkeeping row and the migration commit together: a crash anywhere leaves neither,
      // never a row that claims a half-applied migration.
      try {
        await client.query("BEGIN");
        await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())`, [id, m.checksum, m.name]);
        await client.query(m.sql);
        await client.query(`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        const message = (error as Error).message;
        if ((error as { code?: string }).code === "55P03") {
          // Nothing was applied and nothing recorded: running again later is all it takes.
          throw new MigrationError(
            `migration ${m.name} waited longer than lock_timeout for a table lock (a long transaction holds it) and was not applied; nothing changed. Run \`npm run db:migrate\` again once it ends`,
            { cause: error },
          );
        }
        // A migration that fails on its own SQL is recorded as failed, as Prisma does (P3009 until resolved); none of it applied.
        await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, logs) VALUES ($1, $2, $3, now(), $4)`, [id, m.checksum, m.name, message]);
        throw new MigrationError(`migration ${m.name} failed: ${message}`, { cause: error });
      }
      applied.push(m.name);
    }
    return { applied, alreadyApplied, createdDatabase };
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK_ID]).catch(() => undefined);
    await client.end();
  }
}

/**
 * Prisma's advisory lock, taken by polling rather than by a blocking pg_advisory_lock: a session
 * blocked in that call holds a snapshot, and CREATE INDEX CONCURRENTLY in the migrating session
 * waits for every such snapshot to end — a deadlock between two replicas migrating at once.
 */
async function takeMigrateLock(client: pg.Client): Promise<void> {
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [PRISMA_MIGRATE_LOCK_ID]);
    if (rows[0]!.locked) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface Migration {
  name: string;
  sql: string;
  checksum: string;
  /** Holds a CONCURRENTLY statement, which PostgreSQL refuses inside a transaction (Prisma's rule: alone in its migration). */
  concurrently: boolean;
}

/** SQL without its comments, for looking at the statements. */
const withoutComments = (sql: string) => sql.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, "");

/**
 * A CONCURRENTLY migration: one statement, sent on its own (outside any transaction block). Its
 * bookkeeping row is written first, so a crash or failure mid-build leaves it unfinished (P3009,
 * with the error in `logs`): a failed concurrent build leaves an INVALID index to drop by hand.
 */
async function applyOutsideTransaction(client: pg.Client, id: string, m: Migration): Promise<void> {
  await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())`, [id, m.checksum, m.name]);
  try {
    await client.query(m.sql);
  } catch (error) {
    const message = (error as Error).message;
    await client.query(`UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1`, [id, message]);
    throw new MigrationError(
      `migration ${m.name} failed: ${message}. It ran outside a transaction (CONCURRENTLY): drop what it left half-built (an INVALID index: DROP INDEX CONCURRENTLY …), ` +
        `then \`prisma migrate resolve --rolled-back ${m.name}\` and migrate again`,
      { cause: error },
    );
  }
  await client.query(`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id]);
}

/** The migrations on disk, by name, in the order they apply. */
export function migrationNames(dir: string): string[] {
  return readMigrations(dir).map((m) => m.name);
}

function readMigrations(dir: string): Migration[] {
  if (!existsSync(dir)) throw new MigrationError(`no migrations folder at ${dir}`);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, "migration.sql")))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(dir, name, "migration.sql"));
      const sql = bytes.toString("utf8");
      const statements = withoutComments(sql).split(";").filter((part) => part.trim() !== "");
      const concurrently = /\bCONCURRENTLY\b/i.test(withoutComments(sql));
      if (concurrently && statements.length > 1) {
        throw new MigrationError(`migration ${name} mixes a CONCURRENTLY statement with others: PostgreSQL cannot run it inside a transaction, so give it a migration of its own`);
      }
      return { name, sql, checksum: createHash("sha256").update(bytes).digest("hex"), concurrently };
    });
}

/**
 * A connection to the target database. Only when it does not exist (3D000) does this connect to
 * the `postgres` database to create it: managed hosts and poolers often refuse that one.
 */
async function connectCreatingIfMissing(databaseUrl: string): Promise<{ client: pg.Client; createdDatabase: boolean }> {
  const connect = async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    client.on("error", () => undefined); // a lost connection fails the query in flight, which reports it
    await client.connect();
    return client;
  };
  try {
    return { client: await connect(), createdDatabase: false };
  } catch (error) {
    if ((error as { code?: string }).code !== "3D000") throw error;
  }
  const createdDatabase = await createDatabase(databaseUrl);
  return { client: await connect(), createdDatabase };
}

/** Creates the database named in `databaseUrl` (from the `postgres` database); true when this call created it. */
async function createDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!name) throw new MigrationError("DATABASE_URL names no database; add one, e.g. postgresql://postgres@127.0.0.1:5432/task_watchdog");
  url.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: url.toString() });
  admin.on("error", () => undefined);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return true;
  } catch (error) {
    // Another process created it between our look and our CREATE: that is fine.
    const code = (error as { code?: string }).code;
    if (code !== "42P04" && code !== "23505") throw error;
    return false;
  } finally {
    await admin.end();
  }
}
