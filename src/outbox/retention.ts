// Retention of task_events. One replica at a time (the 'retention' lease), once an hour: creates
// the monthly partitions three months ahead, drops the partitions whose month ended more than
// EVENTS_RETENTION ago and whose events every relay target has passed (an undelivered event keeps
// its partition, whatever its age), and deletes the reprocess request ids of the same age in
// bounded batches. A partition is dropped whole: pruning a month costs the same at 1M rows as at
// 100M. Never throws: a failure is logged, counted and tried again at the next run.
import type pg from "pg";
import type { Logger } from "pino";
import { claimTarget, DISPATCH_TARGET, ensureTargets, QUEUE_TARGET } from "./sql/targets.js";
import { createEventPartitions, defaultPartitionRows, dropPartition, findPrunablePartitions, pruneRequestIds, unfinishedEventIndexes } from "./sql/partitions.js";

export const RETENTION_TARGET = "retention";
const MONTHS_AHEAD = 3;
const REQUEST_BATCH = 1000;
const REQUEST_BATCHES_PER_RUN = 100;

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
  onError: () => void;
}

export interface RetentionRun {
  created: string[];
  dropped: string[];
  requestIdsDeleted: number;
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
  const stray = await defaultPartitionRows(pool, 1000);
  if (stray > 0) options.logger.warn({ rows: stray }, "task_events_default holds events outside the monthly partitions; they are kept until moved by hand (docs/events.md, Retention)");
  const unfinishedIndexes = await unfinishedEventIndexes(pool);
  if (unfinishedIndexes.length > 0) {
    options.logger.warn(
      { indexes: unfinishedIndexes },
      "task_events indexes are not built on every partition (`prisma migrate deploy` leaves them so): run `watchdog migrate` to finish them; until then the reads they serve are slower (docs/operations.md, Migrations at scale)",
    );
  }
  if (created.length + dropped.length > 0) options.logger.info({ created, dropped, requestIdsDeleted }, "task_events partitions maintained");
  return { created, dropped, requestIdsDeleted, unfinishedIndexes };
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
      await run.catch(() => undefined);
    },
  };
}
