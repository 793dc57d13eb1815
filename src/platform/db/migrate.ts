// Applies prisma/migrations with Prisma's own bookkeeping (_prisma_migrations), so that
// `prisma migrate deploy` on a machine with the schema engine sees the same history as applied.
// Safe to run twice or from two processes at once (Prisma's advisory lock, a session lock: the
// runner needs a direct connection, not one through PgBouncer in transaction mode); refuses
// edited or half-applied migrations instead of guessing.
//
// Two kinds of migration, as Prisma runs them (it sends migration.sql as one script: several
// statements run as one implicit transaction, a single statement on its own):
//  - transactional (the default): the file and its bookkeeping row commit together, or neither;
//  - concurrent: a file holding exactly one `CREATE [UNIQUE] INDEX CONCURRENTLY …` or
//    `DROP INDEX CONCURRENTLY …`, which PostgreSQL runs only outside a transaction. It builds the
//    index while the platform keeps writing. A failed or interrupted build leaves an INVALID
//    index behind: the runner drops it and builds again (docs/operations.md, "Migrations at scale").
// After them, every run finishes the indexes a migration created ON ONLY a partitioned table:
// built CONCURRENTLY on each partition and attached (partition-indexes.ts), which Prisma's tool
// does not do.
// A lock wait past lock_timeout (a long transaction holds the table) is retried with backoff, then
// reported with what to do; nothing is half-applied.
import { createHash, randomUUID } from "node:crypto";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { dropIfInvalid, isInvalidIndex } from "./invalid-index.js";
import { finishPartitionedIndexes, indexesCreatedOnOnly, PartitionIndexError } from "./partition-indexes.js";

const PRISMA_MIGRATE_LOCK_ID = 72707369;

export class MigrationError extends Error {
  override name = "MigrationError";
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
  createdDatabase: boolean;
  /** Invalid indexes (left by a failed or interrupted CONCURRENTLY build) dropped before building them again. */
  droppedInvalidIndexes: string[];
  /**
   * Partition indexes built CONCURRENTLY and attached, finishing an index a migration created ON ONLY a
   * partitioned table (src/platform/db/partition-indexes.ts): at most once each, in the run that applies
   * that migration or the first run after `prisma migrate deploy` applied it.
   */
  finishedPartitionIndexes: string[];
}

/**
 * How long a migration's DDL may wait for a table lock. An `ALTER TABLE` queued behind a long
 * transaction blocks every later query on that table while it waits; past this it gives up, and
 * the runner tries again LOCK_RETRIES times with backoff.
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 10_000;
/** Attempts of one migration that time out on a lock, in all. */
export const MIGRATION_LOCK_ATTEMPTS = 5;
/** Wait before the second attempt; it doubles each time. */
export const MIGRATION_LOCK_RETRY_DELAY_MS = 2_000;

export interface MigrateOptions {
  lockTimeoutMs?: number;
  lockAttempts?: number;
  lockRetryDelayMs?: number;
  /** Told of each retry and each invalid index dropped (the CLI prints it to stderr). */
  onProgress?: (message: string) => void;
  /**
   * Bound on each connection's handshake: a server that accepts and never answers (not PostgreSQL)
   * otherwise holds the migration for ever. The CLI passes the start-up checks' bound. Default: none.
   */
  connectTimeoutMs?: number;
  /** While another session holds the migration lock, a progress line at once and then every this often. Default MIGRATION_LOCK_WAIT_REPORT_MS. */
  lockWaitReportMs?: number;
}

/** How often a run waiting for another session's migration lock says so (onProgress): a stuck Job must not look like a silent hang. */
export const MIGRATION_LOCK_WAIT_REPORT_MS = 10_000;
/** What the runner's connection calls itself in pg_stat_activity, unless DATABASE_URL or PGAPPNAME names it: what another run waiting for the lock prints. */
const APPLICATION_NAME = "watchdog migrate";

interface Migration {
  name: string;
  sql: string;
  checksum: string;
  /** The SQL without its comments. */
  code: string;
  /** Set for a one-statement CONCURRENTLY migration: the index it creates or drops. */
  concurrent: { verb: "create" | "drop"; index: string } | null;
}

/**
 * Prisma's advisory lock, taken by polling rather than by a blocking pg_advisory_lock: a session
 * blocked in that call holds a snapshot, and CREATE INDEX CONCURRENTLY in the migrating session
 * waits for every such snapshot to end — PostgreSQL reports a deadlock between two replicas
 * migrating at once as soon as a migration builds an index concurrently.
 */
async function takeMigrateLock(client: pg.Client, progress: (message: string) => void, reportEveryMs: number): Promise<void> {
  const started = Date.now();
  let nextReport = started;
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [PRISMA_MIGRATE_LOCK_ID]);
    if (rows[0]!.locked) return;
    // Not silent while it waits: another replica's run, or a Job stuck holding the lock, is named.
    if (Date.now() >= nextReport) {
      progress(await describeLockHolder(client, Date.now() - started));
      nextReport = Date.now() + reportEveryMs;
    }
    await sleep(200);
  }
}

/**
 * Who holds the migration lock, as far as PostgreSQL tells this role: pg_locks names the session's
 * pid; pg_stat_activity its application_name and, to a role allowed to see that session, since when.
 * A bigint advisory key shows as classid (its high 32 bits), objid (its low 32 bits), objsubid 1.
 */
async function describeLockHolder(client: pg.Client, waitedMs: number): Promise<string> {
  const { rows } = await client.query<{ pid: number; application_name: string | null; backend_start: Date | null; state: string | null; state_change: Date | null }>(
    `SELECT l.pid, a.application_name, a.backend_start, a.state, a.state_change
     FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1
     LIMIT 1`,
    [PRISMA_MIGRATE_LOCK_ID],
  );
  const holder = rows[0];
  const who = holder
    ? [
        `pid ${holder.pid}`,
        holder.application_name ? `application_name ${JSON.stringify(holder.application_name)}` : null,
        holder.backend_start ? `connected since ${holder.backend_start.toISOString()}` : null,
        holder.state && holder.state_change ? `${holder.state} since ${holder.state_change.toISOString()}` : null,
      ]
        .filter((part) => part !== null)
        .join(", ")
    : "PostgreSQL does not say which session (it may just have released it)";
  const stuck = holder ? ` (pg_terminate_backend(${holder.pid}) ends a stuck one)` : "";
  return (
    `waiting for the migration lock (PostgreSQL advisory lock ${PRISMA_MIGRATE_LOCK_ID}, Prisma's): another migrate holds it — ${who}; ` +
    `waited ${Math.round(waitedMs / 1000)} s so far. It goes on once that session releases the lock or ends${stuck}`
  );
}

const LOCK_NOT_AVAILABLE = "55P03";
const errorCode = (error: unknown) => (error as { code?: string }).code;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function migrate(databaseUrl: string, migrationsDir: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = readMigrations(migrationsDir);
  const lockTimeoutMs = Math.max(1, Math.floor(options.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS));
  const attempts = Math.max(1, options.lockAttempts ?? MIGRATION_LOCK_ATTEMPTS);
  const retryDelayMs = options.lockRetryDelayMs ?? MIGRATION_LOCK_RETRY_DELAY_MS;
  const progress = options.onProgress ?? (() => undefined);
  const { client, createdDatabase } = await connectCreatingIfMissing(databaseUrl, options.connectTimeoutMs ?? 0);
  try {
    await takeMigrateLock(client, progress, Math.max(1, options.lockWaitReportMs ?? MIGRATION_LOCK_WAIT_REPORT_MS));
    // Set after the advisory lock, which may rightly wait for another migrating replica. An index
    // build on a large table takes as long as it takes: no statement_timeout (the role may set one).
    await client.query(`SET lock_timeout = ${lockTimeoutMs}`);
    await client.query(`SET statement_timeout = 0`);
    await client.query(CREATE_HISTORY_TABLE);
    const droppedInvalidIndexes: string[] = [];
    await resolveInterruptedBuilds(client, migrations, droppedInvalidIndexes, progress);
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
      await applyWithRetries(client, m, { lockTimeoutMs, attempts, retryDelayMs, droppedInvalidIndexes, progress });
      applied.push(m.name);
    }
    const finishedPartitionIndexes = await finishPartitionedIndexes(client, migrations.flatMap((m) => indexesCreatedOnOnly(m.code)), {
      lockAttempts: attempts,
      retryDelayMs,
      progress,
      dropped: droppedInvalidIndexes,
    }).catch((error: unknown) => {
      if (!(error instanceof PartitionIndexError)) throw error;
      throw new MigrationError(
        `every migration is applied, but an index could not be finished: ${error.message}` +
          (error.lockTimedOut
            ? `. It waited longer than lock_timeout (${lockTimeoutMs} ms) in each of ${attempts} attempts: a long transaction holds the partition (look in pg_stat_activity for old xact_start)`
            : "") +
          `. The partitions done so far stay done; run \`watchdog migrate\` again to finish the rest (until then the index is unused where it is missing)`,
        { cause: error },
      );
    });
    return { applied, alreadyApplied, createdDatabase, droppedInvalidIndexes, finishedPartitionIndexes };
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK_ID]).catch(() => undefined);
    await client.end();
  }
}

/** Prisma's bookkeeping table, as `prisma migrate deploy` creates it. */
const CREATE_HISTORY_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" varchar(36) PRIMARY KEY NOT NULL,
      "checksum" varchar(64) NOT NULL,
      "finished_at" timestamptz,
      "migration_name" varchar(255) NOT NULL,
      "logs" text,
      "rolled_back_at" timestamptz,
      "started_at" timestamptz NOT NULL DEFAULT now(),
      "applied_steps_count" integer NOT NULL DEFAULT 0)`;

/**
 * Applies one migration; a lock_timeout (a long transaction holds the table) is retried with a
 * growing delay, any other failure is recorded as failed (P3009) and thrown.
 */
async function applyWithRetries(
  client: pg.Client,
  m: Migration,
  o: { lockTimeoutMs: number; attempts: number; retryDelayMs: number; droppedInvalidIndexes: string[]; progress: (line: string) => void },
): Promise<void> {
  const { lockTimeoutMs, attempts, retryDelayMs, droppedInvalidIndexes, progress } = o;
  for (let attempt = 1; ; attempt += 1) {
    try {
      if (m.concurrent) await applyConcurrent(client, m, m.concurrent, droppedInvalidIndexes, progress);
      else await applyTransactional(client, m);
      return;
    } catch (error) {
      if (errorCode(error) !== LOCK_NOT_AVAILABLE) {
        // A migration that fails on its own SQL is recorded as failed, as Prisma does (P3009 until resolved).
        const message = (error as Error).message;
        await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, logs) VALUES ($1, $2, $3, now(), $4)`, [randomUUID(), m.checksum, m.name, message]);
        throw new MigrationError(`migration ${m.name} failed: ${message}`, { cause: error });
      }
      if (attempt >= attempts) {
        // Nothing was applied and nothing recorded: running again later is all it takes.
        const leftover = m.concurrent?.verb === "create" && (await isInvalidIndex(client, m.concurrent.index)) ? m.concurrent.index : null;
        throw new MigrationError(
          `migration ${m.name} waited longer than lock_timeout (${lockTimeoutMs} ms) for a lock in each of ${attempts} attempts: a long transaction holds the table ` +
            `(look in pg_stat_activity for old xact_start). Nothing was applied` +
            (leftover ? `; the INVALID index ${leftover} its build left stays until then (dropping it waits for the same transaction), and the next run drops it and builds it again` : "") +
            `. Run \`watchdog migrate\` again once it ends`,
          { cause: error },
        );
      }
      const delay = retryDelayMs * 2 ** (attempt - 1);
      progress(`migration ${m.name}: lock_timeout (${lockTimeoutMs} ms) reached in attempt ${attempt} of ${attempts}; nothing applied, trying again in ${delay} ms`);
      await sleep(delay);
    }
  }
}

/** The bookkeeping row and the migration commit together: a crash anywhere leaves neither. */
async function applyTransactional(client: pg.Client, m: Migration): Promise<void> {
  const id = randomUUID();
  try {
    await client.query("BEGIN");
    await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())`, [id, m.checksum, m.name]);
    await client.query(m.sql);
    await client.query(`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/**
 * Outside any transaction, as PostgreSQL requires: the row says "started" (so an interrupted run
 * is known on the next one), the statement runs on its own, the row says "finished". On failure the
 * invalid index it may have left is dropped and the row removed: nothing applied, nothing recorded
 * (the caller records a real failure).
 */
async function applyConcurrent(client: pg.Client, m: Migration, target: NonNullable<Migration["concurrent"]>, dropped: string[], progress: (message: string) => void): Promise<void> {
  if (target.verb === "create") await dropLeftover(client, target.index, dropped, progress, m.name);
  const id = randomUUID();
  await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())`, [id, m.checksum, m.name]);
  try {
    await client.query(m.sql);
  } catch (error) {
    await client.query(`DELETE FROM "_prisma_migrations" WHERE id = $1`, [id]).catch(() => undefined);
    if (target.verb === "create") await dropLeftover(client, target.index, dropped, progress, m.name).catch(() => undefined);
    throw error;
  }
  await client.query(`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id]);
}

/** Drops a migration's `index` when an earlier build left it INVALID, and says so. */
async function dropLeftover(client: pg.Client, index: string, dropped: string[], progress: (message: string) => void, migration: string): Promise<void> {
  const announce = () => progress(`migration ${migration}: index ${index} was left INVALID by an earlier build that failed or was interrupted; dropping it to build it again`);
  if (await dropIfInvalid(client, index, announce)) dropped.push(index);
}

/**
 * A CONCURRENTLY migration whose row says "started" with no error logged was cut off mid-build (the
 * Job's deadline, a restart): nothing but an invalid index remains. Marked rolled back (what
 * `prisma migrate resolve --rolled-back` does) with its index dropped, it is simply applied again.
 */
async function resolveInterruptedBuilds(client: pg.Client, migrations: readonly Migration[], dropped: string[], progress: (message: string) => void): Promise<void> {
  const concurrent = new Map(migrations.filter((m) => m.concurrent).map((m) => [m.name, m]));
  if (concurrent.size === 0) return;
  const { rows } = await client.query<{ id: string; migration_name: string }>(
    `SELECT id, migration_name FROM "_prisma_migrations" WHERE finished_at IS NULL AND rolled_back_at IS NULL AND logs IS NULL AND migration_name = ANY($1::text[])`,
    [[...concurrent.keys()]],
  );
  for (const row of rows) {
    const m = concurrent.get(row.migration_name)!;
    progress(`migration ${m.name}: an earlier run was interrupted while building; marking that attempt rolled back and building again`);
    if (m.concurrent!.verb === "create") await dropLeftover(client, m.concurrent!.index, dropped, progress, m.name);
    await client.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE id = $1`, [row.id]);
  }
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
      const code = withoutComments(sql);
      return { name, sql, code, checksum: createHash("sha256").update(bytes).digest("hex"), concurrent: concurrentTarget(name, code) };
    });
}

const withoutComments = (sql: string) => sql.replace(/--[^\n]*/g, " ").replace(/\/\*[\s\S]*?\*\//g, " ").trim();

const CREATE_CONCURRENTLY = /^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\.(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?)\s+ON\s/i;
const DROP_CONCURRENTLY = /^DROP\s+INDEX\s+CONCURRENTLY\s+(?:IF\s+EXISTS\s+)?((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\.(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?)\s*$/i;

/**
 * Null for an ordinary migration. A migration that says CONCURRENTLY must be that one statement
 * alone: PostgreSQL refuses CONCURRENTLY inside a transaction, and Prisma runs a migration outside
 * one only when it is a single statement. Anything else is refused before any migration runs.
 */
function concurrentTarget(name: string, code: string): Migration["concurrent"] {
  if (!/\bCONCURRENTLY\b/i.test(code)) return null;
  const statements = code.split(";").map((s) => s.trim()).filter((s) => s.length > 0);
  const only = statements.length === 1 ? statements[0]! : "";
  const create = CREATE_CONCURRENTLY.exec(only);
  if (create) return { verb: "create", index: create[1]! };
  const drop = DROP_CONCURRENTLY.exec(only);
  if (drop) return { verb: "drop", index: drop[1]! };
  throw new MigrationError(
    `migration ${name} uses CONCURRENTLY ${statements.length === 1 ? "in a statement other than CREATE INDEX / DROP INDEX" : `beside ${statements.length - 1} other statement(s)`}: ` +
      `PostgreSQL runs CONCURRENTLY only outside a transaction, and Prisma runs a migration outside one only when it is a single statement. ` +
      `Give the CREATE INDEX CONCURRENTLY (or DROP INDEX CONCURRENTLY) a migration of its own; nothing was applied`,
  );
}
/**
 * A connection to the target database. Only when it does not exist (3D000) does this connect to
 * the `postgres` database to create it: managed hosts and poolers often refuse that one.
 */
async function connectCreatingIfMissing(databaseUrl: string, connectTimeoutMs: number): Promise<{ client: pg.Client; createdDatabase: boolean }> {
  const connect = async () => {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: connectTimeoutMs, fallback_application_name: APPLICATION_NAME });
    client.on("error", () => undefined); // a lost connection fails the query in flight, which reports it
    await client.connect();
    return client;
  };
  try {
    return { client: await connect(), createdDatabase: false };
  } catch (error) {
    if ((error as { code?: string }).code !== "3D000") throw error;
  }
  const createdDatabase = await createDatabase(databaseUrl, connectTimeoutMs);
  return { client: await connect(), createdDatabase };
}

/** Creates the database named in `databaseUrl` (from the `postgres` database); true when this call created it. */
async function createDatabase(databaseUrl: string, connectTimeoutMs: number): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!name) throw new MigrationError("DATABASE_URL names no database; add one, e.g. postgresql://postgres@127.0.0.1:5432/task_watchdog");
  url.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: connectTimeoutMs });
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
