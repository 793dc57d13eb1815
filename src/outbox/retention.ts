// Retention of task_events. One replica at a time (the 'retention' lease), once an hour: creates
// the monthly partitions three months ahead, drops the partitions whose month ended more than
// EVENTS_RETENTION ago and whose events every relay target has passed (an undelivered event keeps
// its partition, whatever its age), and deletes the reprocess request ids of the same age in
// bounded batches, and the bulk reprocesses that finished (DONE or CANCELLED, never a running one)
// before the same cutoff, with their items, in bounded statements. A partition is dropped whole:
// pruning a month costs the same at 1M rows as at 100M. Never throws: a failure is logged, counted
// and tried again at the next run.
import type pg from "pg";
import type { Logger } from "pino";
import { settlesWithin } from "../platform/deadline.js";
import { claimTarget, DISPATCH_TARGET, ensureTargets, QUEUE_TARGET } from "./sql/targets.js";
import { deleteBulkItems, deleteBulks, findExpiredBulks } from "./sql/bulk-retention.js";
import { createEventPartitions, defaultPartitionRows, dropPartition, findPrunablePartitions, pruneRequestIds, unfinishedEventIndexes } from "./sql/partitions.js";

export const RETENTION_TARGET = "retention";
/**
 * How long close() waits for a run in flight. Its statements stand alone and may be cut (a partition
 * dropped or not, rows deleted or not: the next run does what is left); one held by a database that
 * does not answer would otherwise hold the shutdown for its client timeout.
 */
export const RUN_WAIT_MS = 1000;
const MONTHS_AHEAD = 3;
const REQUEST_BATCH = 1000;
const REQUEST_BATCHES_PER_RUN = 100;

/** How much of the finished bulks' deletion one run does; what is left waits for the next run. */
export interface BulkRetentionLimits {
  /** Items one statement deletes at most: a range of (bulk_id, position), short beside the platform's writes. */
  itemsPerStatement: number;
  /** Deleting statements per run (items' ranges and bulk rows): at most itemsPerStatement × this items per run. */
  statementsPerRun: number;
}

/** 5,000 items a statement (3.5 ms each, measured on cached pages), 100 statements: 500,000 items an hour, ten 50,000-task bulks. */
export const BULK_RETENTION_LIMITS: BulkRetentionLimits = { itemsPerStatement: 5000, statementsPerRun: 100 };
/** Old finished bulks looked up at a time. */
const BULKS_PER_LOOKUP = 100;

export interface RetentionOptions {
  pool: pg.Pool;
  owner: string;
  logger: Logger;
  /** Delivered events older than this are pruned. */
  retentionMs: number;
  intervalMs: number;
  leaseMs: number;
  /** Which targets owe deliveries in this deployment. */
  relaysQueue: boolean;
  relaysWebhooks: boolean;
  /** Default BULK_RETENTION_LIMITS (tests pass small ones). */
  bulkLimits?: BulkRetentionLimits;
  onError: () => void;
}

export interface RetentionRun {
  created: string[];
  dropped: string[];
  requestIdsDeleted: number;
  /** Finished bulk reprocesses deleted whole, and items deleted (of those and of bulks the run's cap left for the next run). */
  bulksDeleted: number;
  bulkItemsDeleted: number;
  /** Indexes of task_events a migration created and `watchdog migrate` has not finished (logged as a warning). */
  unfinishedIndexes: string[];
}

/** One run of the retention, for the timer below and for tests (`now` is injectable). */
export async function runRetention(options: Omit<RetentionOptions, "intervalMs" | "onError">, now = new Date()): Promise<RetentionRun | null> {
  const { pool } = options;
  await ensureTargets(pool, [{ target: RETENTION_TARGET, organizationId: null }]);
  if (!(await claimTarget(pool, RETENTION_TARGET, options.owner, options.leaseMs))) return null;
  const created = await createEventPartitions(pool, now, MONTHS_AHEAD);
  const cutoff = new Date(now.getTime() - options.retentionMs);
  const owing = [...(options.relaysWebhooks ? [DISPATCH_TARGET] : []), ...(options.relaysQueue ? [QUEUE_TARGET] : [])];
  const dropped: string[] = [];
  for (const partition of await findPrunablePartitions(pool, cutoff, owing)) {
    await dropPartition(pool, partition.name);
    dropped.push(partition.name);
  }
  let requestIdsDeleted = 0;
  for (let batch = 0; batch < REQUEST_BATCHES_PER_RUN; batch += 1) {
    const deleted = await pruneRequestIds(pool, cutoff, REQUEST_BATCH);
    requestIdsDeleted += deleted;
    if (deleted < REQUEST_BATCH) break;
  }
  const bulks = await pruneFinishedBulks(pool, cutoff, options.bulkLimits ?? BULK_RETENTION_LIMITS);
  const stray = await defaultPartitionRows(pool, 1000);
  if (stray > 0) options.logger.warn({ rows: stray }, "task_events_default holds events outside the monthly partitions; they are kept until moved by hand (docs/events.md, Retention)");
  const unfinishedIndexes = await unfinishedEventIndexes(pool);
  if (unfinishedIndexes.length > 0) {
    options.logger.warn(
      { indexes: unfinishedIndexes },
      "task_events indexes are not built on every partition (`prisma migrate deploy` leaves them so): run `watchdog migrate` to finish them; until then the reads they serve are slower (docs/operations.md, Migrations at scale)",
    );
  }
  const counts = { requestIdsDeleted, bulksDeleted: bulks.bulks, bulkItemsDeleted: bulks.items };
  if (created.length + dropped.length + counts.bulksDeleted + counts.bulkItemsDeleted > 0) {
    options.logger.info({ created, dropped, ...counts }, "retention ran: task_events partitions maintained, finished bulk reprocesses deleted");
  }
  return { created, dropped, ...counts, unfinishedIndexes };
}

/**
 * Deletes the bulk reprocesses that finished before the cutoff, oldest first, within the limits:
 * a bulk's items in ranges of itemsPerStatement positions until what is left of it fits one
 * statement; then the bulk row with those items, together with other such bulks while their items
 * fit one statement. A run that reaches statementsPerRun stops there — in the middle of a bulk too:
 * that bulk stays (GET shows it, its item list is missing the positions already deleted) and the
 * next run goes on from its lowest position still there.
 */
async function pruneFinishedBulks(pool: pg.Pool, cutoff: Date, limits: BulkRetentionLimits): Promise<{ bulks: number; items: number }> {
  const done = { bulks: 0, items: 0 };
  let statements = 0;
  const left = () => statements < limits.statementsPerRun;
  let group: string[] = [];
  let grouped = 0;
  const flush = async () => {
    const gone = await deleteBulks(pool, group, cutoff);
    statements += 1;
    done.bulks += gone.bulks;
    done.items += gone.items;
    [group, grouped] = [[], 0];
  };
  while (left()) {
    const expired = await findExpiredBulks(pool, cutoff, BULKS_PER_LOOKUP);
    for (const bulk of expired) {
      const last = bulk.last ?? 0;
      let after = (bulk.first ?? 1) - 1;
      if (group.length > 0 && grouped + (last - after) > limits.itemsPerStatement) await flush();
      while (last - after > limits.itemsPerStatement && left()) {
        done.items += await deleteBulkItems(pool, bulk.id, after, after + limits.itemsPerStatement, cutoff);
        statements += 1;
        after += limits.itemsPerStatement;
      }
      if (!left()) break;
      group.push(bulk.id);
      grouped += last - after;
    }
    if (group.length > 0 && left()) await flush();
    if (expired.length < BULKS_PER_LOOKUP) break;
  }
  return done;
}

export function startRetention(options: RetentionOptions): { close(): Promise<void> } {
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let run: Promise<unknown> = Promise.resolve();
  const once = async () => {
    try {
      await runRetention(options);
    } catch (error) {
      options.onError();
      options.logger.warn({ err: error }, "events retention failed; trying again at the next run");
    }
  };
  const schedule = (delayMs: number) => {
    if (stopping) return;
    timer = setTimeout(() => {
      run = once().finally(() => schedule(Math.round(options.intervalMs * (0.9 + 0.2 * Math.random()))));
    }, delayMs);
  };
  schedule(Math.min(options.intervalMs, 5000 + Math.round(5000 * Math.random())));
  return {
    close: async () => {
      stopping = true;
      clearTimeout(timer);
      await settlesWithin(run, RUN_WAIT_MS);
    },
  };
}
