// Test fixtures in the real database. Time moves by writing timestamps relative to the
// DATABASE clock (now() - interval), never by sleeping.
import { inject } from "vitest";
import { PrismaPg } from "@prisma/adapter-pg";
import { createDb, type Db } from "../../src/platform/db/client.js";
import { PrismaClient } from "../../src/generated/prisma/client.js";

export function testDatabaseUrl(): string {
  return inject("databaseUrl");
}

export function testDb(): Db {
  return createDb(testDatabaseUrl(), { max: 4 });
}

/** Prisma's generated client on the test database: for the tests that check the schema through it. */
export function prismaClient(): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: testDatabaseUrl(), max: 2 }) });
}

/**
 * Empties every table. A running worker (startApp) may hold row locks on some of these tables
 * while it waits for another (a bulk slice holds its bulk row and inserts events; the relay holds
 * a lease and reads events), and TRUNCATE takes its locks table by table: the two can deadlock.
 * The reset waits far longer than the worker before it checks for a deadlock, so the worker's
 * transaction is the one PostgreSQL aborts — and the worker treats that as any failed slice or
 * round: rolled back, tried again next tick. The reset itself never fails on it.
 */
export async function resetTables(db: Db): Promise<void> {
  await db.$transaction(async (tx) => {
    await tx.$executeRawUnsafe(`SET LOCAL deadlock_timeout = '60s'`);
    await tx.$executeRawUnsafe(`TRUNCATE task_events, task_event_requests, task_assignments, tasks, sweep_pauses, outbox_cursors, bulk_reprocess_items, bulk_reprocesses, status_revert_counts, webhook_replays, webhook_given_up, operator_actions RESTART IDENTITY CASCADE`);
  });
}

export interface TaskFixture {
  status: number;
  /** How long ago the status changed, by the database clock. */
  ageSeconds: number;
  organizationId?: number;
  workspaceId?: number;
  externalId?: string | null;
  previousStatus?: number | null;
  location?: "INBOX" | "HISTORY";
  edits?: unknown;
  displayName?: string;
}

/** Inserts tasks and returns their ids in the order given. */
export async function insertTasks(db: Db, fixtures: TaskFixture[]): Promise<number[]> {
  if (fixtures.length === 0) return [];
  const rows = await db.$queryRaw<{ id: number }[]>`
    INSERT INTO tasks (organization_id, workspace_id, external_id, display_name, status, previous_status,
                       status_changed_at, location, original_payload, edits)
    SELECT f.organization_id, f.workspace_id, f.external_id, f.display_name, f.status, f.previous_status,
           now() - f.age_seconds * interval '1 second', f.location::task_location, '{"pages": 1}'::jsonb, f.edits
    FROM jsonb_to_recordset(${JSON.stringify(
      fixtures.map((f, i) => ({
        organization_id: f.organizationId ?? 1,
        workspace_id: f.workspaceId ?? 1,
        external_id: f.externalId ?? null,
        display_name: f.displayName ?? `doc-${i}.pdf`,
        status: f.status,
        previous_status: f.previousStatus ?? null,
        age_seconds: f.ageSeconds,
        location: f.location ?? "INBOX",
        edits: f.edits ?? null,
        ord: i,
      })),
    )}::jsonb) AS f(organization_id int, workspace_id int, external_id text, display_name text, status smallint,
                    previous_status smallint, age_seconds double precision, location text, edits jsonb, ord int)
    ORDER BY f.ord
    RETURNING id`;
  return rows.map((r) => r.id);
}

export interface TaskRow {
  id: number;
  status: number;
  previous_status: number | null;
  location: string;
  warning: boolean;
  warning_reason: string | null;
  auto_revert_count: number;
  restart_count: number;
  status_changed_at: Date;
  moved_to_history_at: Date | null;
}

export async function getTask(db: Db, id: number): Promise<TaskRow> {
  const rows = await db.$queryRaw<TaskRow[]>`SELECT id, status, previous_status, location::text, warning, warning_reason, auto_revert_count,
    restart_count, status_changed_at, moved_to_history_at FROM tasks WHERE id = ${id}`;
  if (!rows[0]) throw new Error(`no task ${id}`);
  return rows[0];
}

export async function eventsOf(db: Db, taskId: number) {
  return db.$queryRaw<{ kind: string; from_status: number; to_status: number | null; reason: string; actor: string; sweep_id: string | null; stuck_since: Date | null }[]>`
    SELECT kind::text, from_status, to_status, reason, actor, sweep_id, stuck_since FROM task_events WHERE task_id = ${taskId} ORDER BY id`;
}

/**
 * Opens a transaction on a connection of its own, runs `statement` in it (taking its locks) and
 * keeps it open until `release()`, which commits and disconnects. Stands for another writer
 * (the platform, a person in psql) caught mid-transaction.
 */
export async function holdTransaction(statement: string): Promise<{ release: () => Promise<void> }> {
  const other = testDb();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held!: () => void;
  const isHeld = new Promise<void>((resolve) => (held = resolve));
  const tx = other.$transaction(
    async (t) => {
      await t.$executeRawUnsafe(statement);
      held();
      await released;
    },
    { timeout: 120_000 },
  );
  await Promise.race([isHeld, tx]);
  return {
    release: async () => {
      release();
      await tx;
      await other.$disconnect();
    },
  };
}

/** Waits (polling the database, not the clock) until `waiters` backends of this database wait on a lock. */
export async function waitForLockWaiter(db: Db, timeoutMs = 10_000, waiters = 1): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [{ n }] = (await db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'`) as [{ n: number }];
    if (n >= waiters) return;
    if (Date.now() > deadline) throw new Error(`${n} backend(s) waiting on the held lock, not ${waiters}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** This run's database on a direct connection, even when the tests go through PgBouncer (TEST_DATABASE_VIA=pgbouncer). */
export function directDatabaseUrl(): string {
  return inject("directDatabaseUrl");
}
