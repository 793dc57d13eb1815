// A reprocess queue + worker of a test's own (own key prefix), a logger whose lines the test can
// read, and the row-level fixtures reprocessing cares about (edits, warning, assignments, history).
import { QueueEvents, type Job, type Queue, type Worker, type WorkerOptions } from "bullmq";
import pg from "pg";
import { pino } from "pino";
import { Writable } from "node:stream";
import type { Db } from "../../src/platform/db/client.js";
import { REPROCESS_QUEUE } from "../../src/platform/queue-names.js";
import { createReprocessQueue, type ReprocessJobData, type ReprocessResult } from "../../src/reprocess/reprocess-queue.js";
import { createReprocessWorker, type ReprocessJobOutcome } from "../../src/reprocess/reprocess-worker.js";
import { buildRules, type Rule } from "../../src/rules/rules.js";
import { createRedis } from "../../src/platform/redis.js";
import { testDatabaseUrl } from "./db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "./redis.js";

export type LogLine = Record<string, unknown> & { msg: string };

export function captureLogger() {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n").filter(Boolean)) lines.push(JSON.parse(text));
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

export interface ReprocessHarness {
  prefix: string;
  queue: Queue<ReprocessJobData, ReprocessResult>;
  events: QueueEvents;
  lines: LogLine[];
  logger: ReturnType<typeof captureLogger>["logger"];
  connection: ReturnType<typeof createRedis>;
  /** Starts the production worker (createReprocessWorker) against `db`, with the default rules unless given. */
  startWorker(db: Db, concurrency?: number, options?: { rules?: readonly Rule[]; onOutcome?: (outcome: ReprocessJobOutcome) => void }): Worker<ReprocessJobData, ReprocessResult>;
  /** Resolves with the result, or rejects with the failedReason once the job has finally failed. */
  finished(job: Job): Promise<ReprocessResult>;
  close(): Promise<void>;
}

export async function reprocessHarness(): Promise<ReprocessHarness> {
  const prefix = uniquePrefix();
  const connection = createRedis(testRedisUrl());
  const queue = createReprocessQueue(connection, prefix);
  const events = new QueueEvents(REPROCESS_QUEUE, { connection: { url: testRedisUrl() }, prefix });
  await events.waitUntilReady();
  const { logger, lines } = captureLogger();
  const workers: Worker[] = [];
  let closed: Promise<void> | undefined;
  return {
    prefix,
    queue,
    events,
    lines,
    logger,
    connection,
    startWorker(db, concurrency = 2, options = {}) {
      const worker = createReprocessWorker({ db, logger, connection, prefix, concurrency, rules: options.rules ?? buildRules(), onOutcome: options.onOutcome });
      workers.push(worker);
      return worker;
    },
    finished: (job) => job.waitUntilFinished(events, 20_000),
    close() {
      closed ??= (async () => {
        await Promise.all(workers.map((w) => w.close()));
        await events.close();
        await queue.close();
        await connection.quit();
        await deletePrefix(prefix);
      })();
      return closed;
    },
  };
}

/** Worker options for a test that drives a BullMQ Worker of its own around the production processor. */
export const baseWorkerOptions = (h: ReprocessHarness): WorkerOptions => ({ connection: h.connection, prefix: h.prefix });

export async function addAssignments(db: Db, taskId: number, statuses: string[]): Promise<void> {
  await db.$executeRaw`
    INSERT INTO task_assignments (task_id, user_id, position, status)
    SELECT ${taskId}::int, 'user-' || s.ord, s.ord, s.status::assignment_status
    FROM unnest(${statuses}::text[]) WITH ORDINALITY AS s(status, ord)`;
}

export async function assignmentsOf(db: Db, taskId: number) {
  return db.$queryRaw<{ position: number; status: string }[]>`
    SELECT position, status::text FROM task_assignments WHERE task_id = ${taskId}::int ORDER BY position`;
}

export async function reprocessRow(db: Db, taskId: number) {
  const [row] = await db.$queryRaw<
    {
      status: number;
      previous_status: number | null;
      restart_count: number;
      location: string;
      moved_to_history_at: Date | null;
      warning: boolean;
      warning_reason: string | null;
      edits: unknown;
      original_payload: unknown;
      pre_processing_started_on: Date | null;
      status_age_seconds: number;
      pre_processing_age_seconds: number | null;
    }[]
  >`SELECT status, previous_status, restart_count, location::text, moved_to_history_at, warning, warning_reason, edits, original_payload,
           pre_processing_started_on,
           extract(epoch FROM now() - status_changed_at)::float AS status_age_seconds,
           extract(epoch FROM now() - pre_processing_started_on)::float AS pre_processing_age_seconds
    FROM tasks WHERE id = ${taskId}::int`;
  if (!row) throw new Error(`no task ${taskId}`);
  return row;
}

export async function reprocessEventsOf(db: Db, taskId: number) {
  return db.$queryRaw<{ kind: string; from_status: number; to_status: number; reason: string; actor: string; request_id: string; details: Record<string, unknown> }[]>`
    SELECT kind::text, from_status, to_status, reason, actor, request_id, details FROM task_events WHERE task_id = ${taskId}::int ORDER BY id`;
}

/**
 * Holds row locks from a connection of the test's own, in an open transaction, so a worker's
 * statement that needs one of those rows waits — a way to catch it mid-transaction.
 */
export async function holdRowLock(sql: string, params: unknown[]): Promise<{ release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  await client.query("BEGIN");
  await client.query(sql, params);
  let released: Promise<void> | undefined;
  return {
    release: () =>
      (released ??= (async () => {
        await client.query("ROLLBACK");
        await client.end();
      })()),
  };
}

