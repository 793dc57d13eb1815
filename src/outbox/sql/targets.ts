// The relay targets' rows (table outbox_cursors, prisma/migrations/20261204131000_outbox_leases):
// positions, leases and the pending marks. Each function is one statement, its own transaction
// (PgBouncer in transaction mode is fine: nothing lives in the session). Every write that moves a
// position names the lease owner (fencing): a replica that lost its lease changes nothing.
// Statements that update several rows lock them in target order first, so two of them never
// deadlock.
import type { Queryable } from "./queryable.js";

export const DISPATCH_TARGET = "dispatch";
export const QUEUE_TARGET = "queue";
export const webhookTarget = (organizationId: number) => `webhook:${organizationId}`;

export interface TargetCursor {
  target: string;
  organizationId: number | null;
  snapFrom: string;
  /** The batch in progress ends at this snapshot; null between batches. */
  snapTo: string | null;
  afterTxid: string;
  afterEventId: string;
  failingEventId: string | null;
  failedAttempts: number;
}

const cursorColumns = (a: string) => `${a}target, ${a}organization_id AS "organizationId", ${a}snap_from AS "snapFrom", ${a}snap_to AS "snapTo",
  ${a}after_txid::text AS "afterTxid", ${a}after_event_id::text AS "afterEventId", ${a}failing_event_id::text AS "failingEventId", ${a}failed_attempts AS "failedAttempts"`;
const CURSOR_COLUMNS = cursorColumns("");

/**
 * ensureTargets — In: targets and their organization (null for dispatch and the queue). Does:
 * creates the missing rows positioned at this moment (a new target starts with what happens next).
 * Locks: the new rows. Out: nothing.
 */
export async function ensureTargets(db: Queryable, targets: readonly { target: string; organizationId: number | null }[]): Promise<void> {
  if (targets.length === 0) return;
  await db.query(
    `INSERT INTO outbox_cursors (target, organization_id, snap_from)
     SELECT t, o, pg_current_snapshot()::text FROM unnest($1::text[], $2::int[]) AS x(t, o)
     ON CONFLICT (target) DO NOTHING`,
    [targets.map((t) => t.target), targets.map((t) => t.organizationId)],
  );
}

/**
 * claimTarget — In: one target, this replica's owner id, the lease. Does: takes the lease when it
 * is free, expired or already ours (compare-and-set), and renews it. Locks: the row.
 * Out: the target's cursor, or null when another replica holds it.
 */
export async function claimTarget(db: Queryable, target: string, owner: string, leaseMs: number): Promise<TargetCursor | null> {
  const { rows } = await db.query<TargetCursor>(
    `UPDATE outbox_cursors SET lease_owner = $2, lease_expires_at = now() + $3::int * interval '1 millisecond'
     WHERE target = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < now())
     RETURNING ${CURSOR_COLUMNS}`,
    [target, owner, leaseMs],
  );
  return rows[0] ?? null;
}

/**
 * claimDueTargets — In: owner, lease, the organizations this replica has endpoints for, how many.
 * Does: takes the lease of up to `limit` webhook targets that have undelivered events, are due
 * (not backing off) and are not leased, oldest due first; SKIP LOCKED, so replicas claiming at once
 * take different ones. Reads only the pending rows (partial index outbox_cursors_due_idx).
 * Locks: the claimed rows. Out: their cursors.
 */
export async function claimDueTargets(db: Queryable, owner: string, leaseMs: number, organizationIds: readonly number[], limit: number): Promise<TargetCursor[]> {
  if (limit <= 0 || organizationIds.length === 0) return [];
  const { rows } = await db.query<TargetCursor>(
    `UPDATE outbox_cursors c SET lease_owner = $1, lease_expires_at = now() + $2::int * interval '1 millisecond'
     FROM (SELECT target FROM outbox_cursors
           WHERE pending AND next_attempt_at <= now() AND (lease_owner IS NULL OR lease_expires_at < now())
             AND organization_id = ANY($3::int[])
           ORDER BY next_attempt_at LIMIT $4::int FOR UPDATE SKIP LOCKED) due
     WHERE c.target = due.target
     RETURNING ${cursorColumns("c.")}`,
    [owner, leaseMs, organizationIds, limit],
  );
  return rows;
}

/**
 * pinBatch — In: a target we lease. Does: between batches, fixes the end of the next one at this
 * moment (snap_to = now's snapshot) and remembers the mark count it started with; a batch already
 * pinned (resumed after a crash) keeps its end, so it resumes in the same order.
 * Locks: the row. Out: the cursor, or null when the lease is lost.
 */
export async function pinBatch(db: Queryable, target: string, owner: string): Promise<TargetCursor | null> {
  const { rows } = await db.query<TargetCursor>(
    `UPDATE outbox_cursors SET snap_to = coalesce(snap_to, pg_current_snapshot()::text),
            batch_mark_seq = CASE WHEN snap_to IS NULL THEN mark_seq ELSE batch_mark_seq END, updated_at = now()
     WHERE target = $1 AND lease_owner = $2
     RETURNING ${CURSOR_COLUMNS}`,
    [target, owner],
  );
  return rows[0] ?? null;
}

/**
 * finishBatch — In: a target we lease and the end of the batch it relayed whole. Does: the next
 * batch starts there; the target stays pending only if it was marked since the batch began.
 * Locks: the row. Out: { pending } or null when the lease is lost.
 */
export async function finishBatch(db: Queryable, target: string, owner: string, snapTo: string): Promise<{ pending: boolean } | null> {
  const { rows } = await db.query<{ pending: boolean }>(
    `UPDATE outbox_cursors
     SET snap_from = snap_to, snap_to = NULL, after_txid = 0, after_event_id = 0,
         pending = pending AND mark_seq IS DISTINCT FROM batch_mark_seq,
         pending_since = CASE WHEN pending AND mark_seq IS DISTINCT FROM batch_mark_seq THEN pending_since END,
         batch_mark_seq = NULL, updated_at = now()
     WHERE target = $1 AND lease_owner = $2 AND snap_to = $3
     RETURNING pending`,
    [target, owner, snapTo],
  );
  return rows[0] ?? null;
}

export interface PositionWrite {
  target: string;
  snapTo: string;
  last: { txid: string; id: string };
  /** Events relayed since the previous write of this target. */
  count: number;
}

/**
 * writePositions — In: owner, lease, positions of several targets we lease. Does: moves each to
 * its last relayed event, counts them, clears the failure bookkeeping and renews the lease — one
 * statement for every target this process delivers (the delivery's group commit).
 * Locks: the rows, in target order. Out: the targets written (a missing one lost its lease).
 */
export async function writePositions(db: Queryable, owner: string, leaseMs: number, writes: readonly PositionWrite[]): Promise<Set<string>> {
  if (writes.length === 0) return new Set();
  const { rows } = await db.query<{ target: string }>(
    `WITH v AS (SELECT * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::int[]) AS v(target, snap_to, txid, id, n)),
     locked AS (SELECT c.target FROM outbox_cursors c JOIN v ON v.target = c.target AND v.snap_to = c.snap_to
                WHERE c.lease_owner = $1 ORDER BY c.target FOR UPDATE OF c)
     UPDATE outbox_cursors c SET after_txid = v.txid, after_event_id = v.id, delivered_count = c.delivered_count + v.n,
            failing_event_id = NULL, failing_since = NULL, failed_attempts = 0, last_error = NULL,
            lease_expires_at = now() + $2::int * interval '1 millisecond', updated_at = now()
     FROM v WHERE c.target = v.target AND c.target IN (SELECT target FROM locked)
     RETURNING c.target`,
    [owner, leaseMs, writes.map((w) => w.target), writes.map((w) => w.snapTo), writes.map((w) => w.last.txid), writes.map((w) => w.last.id), writes.map((w) => w.count)],
  );
  return new Set(rows.map((r) => r.target));
}

/**
 * renewLeases — In: owner, lease, the targets this process works on. Does: extends their leases
 * (the heartbeat for a target waiting on a slow endpoint). Locks: the rows, in target order.
 * Out: the targets still ours.
 */
export async function renewLeases(db: Queryable, owner: string, leaseMs: number, targets: readonly string[]): Promise<Set<string>> {
  if (targets.length === 0) return new Set();
  const { rows } = await db.query<{ target: string }>(
    `WITH locked AS (SELECT target FROM outbox_cursors WHERE target = ANY($3::text[]) AND lease_owner = $1 ORDER BY target FOR UPDATE)
     UPDATE outbox_cursors SET lease_expires_at = now() + $2::int * interval '1 millisecond'
     WHERE target IN (SELECT target FROM locked)
     RETURNING target`,
    [owner, leaseMs, targets],
  );
  return new Set(rows.map((r) => r.target));
}

/**
 * releaseTarget — In: a target we lease, in how long it may be taken again. Does: gives the lease
 * up (at once for a target that used its time budget: it goes behind the targets due before it).
 * Locks: the row. Out: nothing.
 */
export async function releaseTarget(db: Queryable, target: string, owner: string, againInMs = 0): Promise<void> {
  await db.query(
    `UPDATE outbox_cursors SET lease_owner = NULL, lease_expires_at = NULL,
            next_attempt_at = now() + $3::int * interval '1 millisecond', updated_at = now()
     WHERE target = $1 AND lease_owner = $2`,
    [target, owner, againInMs],
  );
}

/**
 * recordFailure — In: a target we lease, the event that failed, why (no secret in it). Does:
 * counts the attempt; a new failing event restarts the clock. The caller then gives the lease up
 * with the retry's wait (releaseTarget). Locks: the row.
 * Out: attempts so far and for how long this event has been failing.
 */
export async function recordFailure(db: Queryable, target: string, owner: string, eventId: string, error: string): Promise<{ attempts: number; failingForSeconds: number }> {
  const { rows } = await db.query<{ attempts: number; failing_for: number }>(
    `UPDATE outbox_cursors
     SET failed_attempts = CASE WHEN failing_event_id = $3::bigint THEN failed_attempts + 1 ELSE 1 END,
         failing_since = CASE WHEN failing_event_id = $3::bigint THEN failing_since ELSE now() END,
         failing_event_id = $3::bigint, last_error = left($4, 500), updated_at = now()
     WHERE target = $1 AND lease_owner = $2
     RETURNING failed_attempts AS attempts, extract(epoch FROM now() - failing_since)::float8 AS failing_for`,
    [target, owner, eventId, error],
  );
  return { attempts: rows[0]?.attempts ?? 1, failingForSeconds: rows[0]?.failing_for ?? 0 };
}

/**
 * dispatchPage — In: owner, lease, the dispatch batch's end, the last event of the page read, how
 * many, and the webhook targets of the organizations that had events in it. Does, in one
 * statement: marks those targets pending (pending_since kept when already pending, mark_seq + 1)
 * and moves dispatch's position past the page. Targets without a row (no endpoint) are not there.
 * Locks: the marked rows in target order, then dispatch's row.
 * Out: false when dispatch's lease was lost (the marks are harmless: a pending target with nothing
 * new finds nothing and clears).
 */
export async function dispatchPage(db: Queryable, owner: string, leaseMs: number, snapTo: string, last: { txid: string; id: string }, count: number, targets: readonly string[]): Promise<boolean> {
  const { rows } = await db.query<{ target: string }>(
    `WITH locked AS (SELECT target FROM outbox_cursors WHERE target = ANY($6::text[]) ORDER BY target FOR UPDATE),
     marked AS (
       UPDATE outbox_cursors SET pending = true, pending_since = coalesce(pending_since, now()), mark_seq = mark_seq + 1, updated_at = now()
       WHERE target IN (SELECT target FROM locked)
       RETURNING 1)
     UPDATE outbox_cursors SET after_txid = $3::bigint, after_event_id = $4::bigint, delivered_count = delivered_count + $5::int,
            lease_expires_at = now() + $7::int * interval '1 millisecond', updated_at = now()
     WHERE target = '${DISPATCH_TARGET}' AND lease_owner = $1 AND snap_to = $2 AND (SELECT count(*) FROM marked) >= 0
     RETURNING target`,
    [owner, snapTo, last.txid, last.id, count, targets, leaseMs],
  );
  return rows.length > 0;
}

/**
 * advanceTarget — In: a target we lease (the queue), its batch's end, the last event relayed and
 * how many. Does: moves the position there, renews the lease. Locks: the row.
 * Out: false when the lease was lost.
 */
export async function advanceTarget(db: Queryable, target: string, owner: string, leaseMs: number, snapTo: string, last: { txid: string; id: string }, count: number): Promise<boolean> {
  const written = await writePositions(db, owner, leaseMs, [{ target, snapTo, last, count }]);
  return written.has(target);
}
