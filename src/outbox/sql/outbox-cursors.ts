// The relay targets' positions (table outbox_cursors). Small single-row statements, each its own
// autocommit transaction; the caller holds the target's advisory lock (targetLockKey) while it
// reads events and moves the position, so two replicas never relay one target at once.
import type { Queryable, OutboxPosition } from "./read-outbox-events.js";

export interface OutboxCursor extends Omit<OutboxPosition, "snapTo"> {
  target: string;
  snapTo: string | null;
  jobId: string | null;
  jobSeq: number;
  failingEventId: string | null;
  failedAttempts: number;
}

/** The key of pg_try_advisory_lock for a target: a 64-bit hash of a name no one else uses. */
export const targetLockSql = (fn: "pg_try_advisory_lock" | "pg_advisory_unlock") => `SELECT ${fn}(hashtextextended('task-watchdog-outbox:' || $1::text, 0)) AS ok`;

/**
 * ensureOutboxCursors — In: target names. Does: creates the missing ones positioned at this
 * moment (events already committed are not relayed: a new target starts with what happens next).
 * Locks: the new rows. Out: nothing.
 */
export async function ensureOutboxCursors(db: Queryable, targets: readonly string[]): Promise<void> {
  if (targets.length === 0) return;
  await db.query(
    `INSERT INTO outbox_cursors (target, snap_from) SELECT t, pg_current_snapshot()::text FROM unnest($1::text[]) AS t ON CONFLICT (target) DO NOTHING`,
    [targets],
  );
}

/** readOutboxCursor — In: a target. Out: its position and job bookkeeping. No locks. */
export async function readOutboxCursor(db: Queryable, target: string): Promise<OutboxCursor> {
  const { rows } = await db.query<OutboxCursor>(
    `SELECT target, snap_from AS "snapFrom", snap_to AS "snapTo", after_txid::text AS "afterTxid", after_event_id::text AS "afterEventId",
            job_id AS "jobId", job_seq AS "jobSeq", failing_event_id::text AS "failingEventId", failed_attempts AS "failedAttempts"
     FROM outbox_cursors WHERE target = $1`,
    [target],
  );
  if (!rows[0]) throw new Error(`outbox target ${target} has no cursor row (ensureOutboxCursors not run)`);
  return rows[0];
}

/** The snapshot a batch ends at: now. */
export async function currentSnapshot(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ snap: string }>(`SELECT pg_current_snapshot()::text AS snap`);
  return rows[0]!.snap;
}

/**
 * advanceOutboxCursor — In: a target, the batch's snapTo and the last (txid, id) relayed, how many
 * were relayed. Does: moves the position there and clears the failure bookkeeping. Locks: the row.
 */
export async function advanceOutboxCursor(db: Queryable, target: string, snapTo: string, last: { txid: string; id: string }, count: number): Promise<void> {
  await db.query(
    `UPDATE outbox_cursors SET snap_to = $2, after_txid = $3::bigint, after_event_id = $4::bigint, delivered_count = delivered_count + $5::int,
            failing_event_id = NULL, failing_since = NULL, failed_attempts = 0, last_error = NULL, updated_at = now()
     WHERE target = $1`,
    [target, snapTo, last.txid, last.id, count],
  );
}

/**
 * finishOutboxBatch — In: a target and the snapTo of the batch it has relayed whole. Does: the
 * next batch starts where this one ended (snap_from = snapTo). Locks: the row.
 */
export async function finishOutboxBatch(db: Queryable, target: string, snapTo: string): Promise<void> {
  await db.query(
    `UPDATE outbox_cursors SET snap_from = $2, snap_to = NULL, after_txid = 0, after_event_id = 0, updated_at = now() WHERE target = $1`,
    [target, snapTo],
  );
}

/**
 * recordDeliveryFailure — In: a target, the event that failed, why (no secret in it). Does: counts
 * the attempt; a new failing event restarts the clock. Locks: the row.
 * Out: how many attempts this event has failed and for how many seconds it has been failing.
 */
export async function recordDeliveryFailure(db: Queryable, target: string, eventId: string, error: string): Promise<{ attempts: number; failingForSeconds: number }> {
  const { rows } = await db.query<{ attempts: number; failing_for: number }>(
    `UPDATE outbox_cursors
     SET failed_attempts = CASE WHEN failing_event_id = $2::bigint THEN failed_attempts + 1 ELSE 1 END,
         failing_since = CASE WHEN failing_event_id = $2::bigint THEN failing_since ELSE now() END,
         failing_event_id = $2::bigint, last_error = left($3, 500), updated_at = now()
     WHERE target = $1
     RETURNING failed_attempts AS attempts, extract(epoch FROM now() - failing_since)::float8 AS failing_for`,
    [target, eventId, error],
  );
  return { attempts: rows[0]?.attempts ?? 1, failingForSeconds: rows[0]?.failing_for ?? 0 };
}

/**
 * claimDeliveryJob — In: a target, the job id it names now (or null). Does: names a new job, only
 * if no other replica did meanwhile (compare-and-set). Locks: the row. Out: the new job id, or null.
 */
export async function claimDeliveryJob(db: Queryable, target: string, expectedJobId: string | null): Promise<string | null> {
  const { rows } = await db.query<{ job_id: string }>(
    `UPDATE outbox_cursors SET job_seq = job_seq + 1, job_id = replace(target, ':', '-') || '-' || (job_seq + 1), updated_at = now()
     WHERE target = $1 AND job_id IS NOT DISTINCT FROM $2
     RETURNING job_id`,
    [target, expectedJobId],
  );
  return rows[0]?.job_id ?? null;
}

export interface PendingStats {
  target: string;
  pending: number;
  oldestAgeSeconds: number;
}

/**
 * outboxPending — In: targets and their organization (null for the queue). Out: per target, the
 * committed events not yet relayed (counted up to `cap`) and the age of the oldest. No locks.
 */
export async function outboxPending(db: Queryable, targets: readonly { target: string; organizationId: number | null }[], cap: number): Promise<PendingStats[]> {
  if (targets.length === 0) return [];
  const { rows } = await db.query<{ target: string; pending: number; oldest: number | null }>(
    `SELECT c.target, p.pending, p.oldest
     FROM unnest($1::text[], $2::int[]) AS w(target, organization_id)
     JOIN outbox_cursors c ON c.target = w.target
     CROSS JOIN LATERAL (
       SELECT count(*)::int AS pending, extract(epoch FROM now() - min(x.created_at))::float8 AS oldest FROM (
         SELECT e.created_at FROM task_events e
         CROSS JOIN LATERAL (SELECT t.organization_id FROM tasks t WHERE t.id = e.task_id OFFSET 0) t
         WHERE e.txid >= pg_snapshot_xmin(c.snap_from::pg_snapshot)::text::bigint
           AND NOT pg_visible_in_snapshot(e.txid::text::xid8, c.snap_from::pg_snapshot)
           AND (c.snap_to IS NULL OR NOT pg_visible_in_snapshot(e.txid::text::xid8, c.snap_to::pg_snapshot)
                OR (e.txid, e.id) > (c.after_txid, c.after_event_id))
           AND (w.organization_id IS NULL OR t.organization_id = w.organization_id)
         LIMIT $3::int) x
     ) p`,
    [targets.map((t) => t.target), targets.map((t) => t.organizationId), cap],
  );
  return rows.map((r) => ({ target: r.target, pending: r.pending, oldestAgeSeconds: r.oldest ?? 0 }));
}

/**
 * pinOutboxBatch — In: a target between batches and the snapshot its next batch ends at. Does:
 * fixes that end, so a retried delivery resumes the same batch in the same order. Locks: the row.
 */
export async function pinOutboxBatch(db: Queryable, target: string, snapTo: string): Promise<void> {
  await db.query(`UPDATE outbox_cursors SET snap_to = $2, updated_at = now() WHERE target = $1 AND snap_to IS NULL`, [target, snapTo]);
}
