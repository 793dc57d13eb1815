// Reprocess throughput through the queue. `jobs` requests for distinct tasks are enqueued first
// (not timed); then a worker drains them and we time until the last one completes.
// Project: createReprocessWorker (the production worker: parse, reprocessTask's transaction via
// Prisma, one log line per request to /dev/null) fed by enqueueReprocess.
// Bound: a plain BullMQ Worker with the same concurrency whose processor runs one equivalent
// transaction in plain `pg`: a single statement that locks the task, resets it and its
// assignments and writes the REPROCESSED event (idempotent on request_id).
// For attribution, two more: plain BullMQ + plain `pg` running the worker's protocol (BEGIN; lock
// timeout; the statement; COMMIT), and plain BullMQ + the one statement sent through Prisma
// ($queryRawUnsafe, no transaction). Together they split the gap into protocol (an explicit
// transaction vs one autocommit statement) and client (Prisma's transaction and per-query cost).
import { randomBytes } from "node:crypto";
import { Queue, Worker, type Job } from "bullmq";
import type pg from "pg";
import { pino } from "pino";
import { PrismaPg } from "@prisma/adapter-pg";
import type { Db } from "../../src/platform/db/client.js";
import { PrismaClient } from "../../src/generated/prisma/client.js";
import { createLogger } from "../../src/platform/logger.js";
import { createRedis } from "../../src/platform/redis.js";
import { createReprocessQueue, enqueueReprocess, type ReprocessJobData } from "../../src/reprocess/reprocess-queue.js";
import { createReprocessWorker } from "../../src/reprocess/reprocess-worker.js";
import { buildRules } from "../../src/rules/rules.js";
import { startCpuMeter } from "../cpu.js";
import { sample, type Sample, timeMs, warm } from "../measure.js";
import { deletePrefix } from "../redis-keys.js";

// In: $1 task id, $2 request id, $3 actor. One statement = one transaction: locks the task row,
// skips when the request was already applied, resets the task and its assignments, writes the event.
const REPROCESS_SQL = `
  WITH locked AS (
    SELECT t.id, t.status, t.location, t.edits, t.warning, t.warning_reason FROM tasks t
    WHERE t.id = $1::int AND NOT EXISTS (SELECT 1 FROM task_events e WHERE e.request_id = $2::text)
    FOR UPDATE
  ), assignments_before AS (
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'userId', a.user_id, 'position', a.position, 'status', a.status) ORDER BY a.position, a.id), '[]'::jsonb) AS list
    FROM task_assignments a WHERE a.task_id = (SELECT id FROM locked)
  ), reset_assignments AS (
    UPDATE task_assignments SET status = 'PENDING', updated_at = now() WHERE task_id = (SELECT id FROM locked) AND status <> 'PENDING'
  ), updated AS (
    UPDATE tasks t SET status = 30, status_changed_at = now(), restart_count = t.restart_count + 1, pre_processing_started_on = now(),
           edits = NULL, warning = false, warning_reason = NULL, location = 'INBOX', moved_to_history_at = NULL
    FROM locked l WHERE t.id = l.id
    RETURNING t.id, t.restart_count, t.status
  ), event AS (
    INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, request_id, details)
    SELECT u.id, 'REPROCESSED', l.status, u.status, 'reprocess requested by ' || $3::text, $3::text, $2::text,
           jsonb_build_object('restartCount', u.restart_count, 'fromLocation', l.location, 'discardedEdits', l.edits,
                              'discardedWarning', l.warning, 'discardedWarningReason', l.warning_reason, 'assignmentsBefore', ab.list)
    FROM updated u, locked l, assignments_before ab
  )
  SELECT u.id, u.restart_count, u.status FROM updated u`;

type Processor = (job: Job<ReprocessJobData>) => Promise<unknown>;

const requestIdOf = (job: Job) => `${job.queueQualifiedName}:${job.id}:${job.timestamp}`;

function oneStatement(pool: pg.Pool): Processor {
  return async (job) => {
    const { rows } = await pool.query(REPROCESS_SQL, [job.data.taskId, requestIdOf(job), job.data.requestedBy]);
    if (rows.length !== 1) throw new Error(`task ${job.data.taskId} was not reprocessed`);
    return rows[0];
  };
}

function oneStatementViaPrisma(db: PrismaClient): Processor {
  return async (job) => {
    const rows = await db.$queryRawUnsafe<unknown[]>(REPROCESS_SQL, job.data.taskId, requestIdOf(job), job.data.requestedBy);
    if (rows.length !== 1) throw new Error(`task ${job.data.taskId} was not reprocessed`);
    return rows[0];
  };
}

// The worker's protocol (src/reprocess/sql/reprocess-task.ts): BEGIN; set the lock timeout; the one
// statement; COMMIT — four round trips in an explicit transaction, here through plain pg.
function projectSteps(pool: pg.Pool): Processor {
  return async (job) => {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT set_config('lock_timeout', '15s', true)");
      const { rows } = await client.query(REPROCESS_SQL, [job.data.taskId, requestIdOf(job), job.data.requestedBy]);
      await client.query("COMMIT");
      if (rows.length !== 1) throw new Error(`task ${job.data.taskId} was not reprocessed`);
      return rows[0];
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };
}

export interface ReprocessRates {
  /** Jobs per second, median over repetitions. */
  project: Sample;
  bound: Sample;
  /** Plain BullMQ + plain pg following the worker's protocol (BEGIN, lock timeout, statement, COMMIT). */
  sameSteps: Sample;
  /** Plain BullMQ + the bound's one statement sent through Prisma. */
  oneStatementPrisma: Sample;
  /** CPU (this process + the database backends; not Redis) per job, in µs, median over repetitions. */
  cpuPerJob: { project: Sample; bound: Sample };
}

export async function measureReprocess(
  db: Db,
  pool: pg.Pool,
  taskIds: readonly number[],
  options: { reps: number; redisUrl: string; concurrency: number },
): Promise<ReprocessRates> {
  const prefix = `wdbench-${randomBytes(4).toString("hex")}`;
  const connection = createRedis(options.redisUrl);
  // The attribution row's PrismaClient (the worker itself no longer runs one: src/platform/db/client.ts).
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: (pool as unknown as { options: { connectionString: string } }).options.connectionString, max: options.concurrency }) });
  const logger = createLogger({ level: "info", destination: pino.destination({ dest: "/dev/null", sync: true }) });
  const rates = { project: [] as number[], bound: [] as number[], sameSteps: [] as number[], oneStatementPrisma: [] as number[] };
  const cpu = { project: [] as number[], bound: [] as number[], sameSteps: [] as number[], oneStatementPrisma: [] as number[] };
  const timedDrain = async (side: keyof typeof rates, start: () => Worker) => {
    await (side === "project" ? warm((sql) => db.$queryRawUnsafe(sql), options.concurrency) : side === "oneStatementPrisma" ? warm((sql) => prisma.$queryRawUnsafe(sql), options.concurrency) : warm((sql) => pool.query(sql), options.concurrency));
    const meter = await startCpuMeter(pool);
    const ms = await drain(start, taskIds.length);
    const used = await meter.stop();
    rates[side].push(taskIds.length / (ms / 1000));
    cpu[side].push(((used.clientMs + used.serverMs) * 1000) / taskIds.length);
  };

  // Every run starts from tasks under review: a task the previous run restarted is in
  // QueuedForPreProcessing since a moment, which the reprocess guard refuses (work in flight).
  const reset = async () => {
    await pool.query("TRUNCATE task_events, task_event_requests");
    await pool.query("UPDATE tasks SET status = 50 WHERE id = ANY($1::int[]) AND status <> 50", [taskIds]);
  };
  const plain = async (name: "bound" | "sameSteps" | "oneStatementPrisma", processor: Processor, r: number) => {
    await reset();
    const queuePrefix = `${prefix}-${name}${r}`;
    const queue = new Queue<ReprocessJobData>("bench-reprocess", { connection, prefix: queuePrefix });
    await queue.addBulk(taskIds.map((taskId) => ({ name: "reprocess", data: { taskId, requestedBy: "bench" }, opts: { attempts: 8, removeOnComplete: { age: 86400, count: 1000 } } })));
    let worker: Worker | undefined;
    await timedDrain(name, () => (worker = new Worker<ReprocessJobData>("bench-reprocess", processor, { connection, prefix: queuePrefix, concurrency: options.concurrency })));
    await worker?.close();
    await queue.obliterate({ force: true });
    await queue.close();
  };
  const runs: Record<keyof typeof rates, (r: number) => Promise<void>> = {
    project: async (r) => {
      await reset();
      const queuePrefix = `${prefix}-project${r}`;
      const queue = createReprocessQueue(connection, queuePrefix);
      for (const taskId of taskIds) await enqueueReprocess(queue, { taskId, requestedBy: "bench" });
      let worker: Worker | undefined;
      await timedDrain("project", () => (worker = createReprocessWorker({ db, rules: buildRules(), logger, connection, prefix: queuePrefix, concurrency: options.concurrency })));
      await worker?.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
    bound: (r) => plain("bound", oneStatement(pool), r),
    sameSteps: (r) => plain("sameSteps", projectSteps(pool), r),
    oneStatementPrisma: (r) => plain("oneStatementPrisma", oneStatementViaPrisma(prisma), r),
  };
  try {
    for (let r = 0; r < options.reps; r++) {
      const order = (["project", "bound", "sameSteps", "oneStatementPrisma"] as const).slice();
      if (r % 2 === 1) order.reverse(); // drift in the machine's load must not favour one side
      for (const name of order) await runs[name](r);
    }
  } finally {
    await deletePrefix(connection, prefix);
    await connection.quit();
    await prisma.$disconnect();
  }
  return {
    project: sample(rates.project),
    bound: sample(rates.bound),
    sameSteps: sample(rates.sameSteps),
    oneStatementPrisma: sample(rates.oneStatementPrisma),
    cpuPerJob: { project: sample(cpu.project), bound: sample(cpu.bound) },
  };
}

/** Starts a worker (autorun) on a pre-filled queue; milliseconds until `jobs` jobs completed. A failed job aborts. */
async function drain(start: () => Worker, jobs: number): Promise<number> {
  let completed = 0;
  return timeMs(
    () =>
      new Promise<void>((resolve, reject) => {
        const worker = start();
        worker.on("completed", () => {
          if (++completed === jobs) resolve();
        });
        worker.on("failed", (job, error) => reject(new Error(`job ${job?.id} failed: ${error.message}`)));
        worker.on("error", reject);
      }),
  );
}
