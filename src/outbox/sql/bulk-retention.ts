// The retention of bulk reprocesses (prisma/migrations/20261204160000_bulk_reprocess; docs/reprocess.md,
// "Bulk reprocess"): a finished bulk — DONE or CANCELLED, never RUNNING — whose finished_at is older
// than the retention's cutoff goes, with its items. One bulk holds up to 50,000 items, so they go in
// ranges of the items' primary key (bulk_id, position), one short statement each beside the
// platform's writes, and the bulk row last, with the few items still left. runRetention
// (../retention.ts) caps how many statements one run sends; the rest waits for the next run.
import type { Queryable } from "./queryable.js";

export interface ExpiredBulk {
  id: string;
  /** The lowest and highest position of its items still there; null when none is. */
  first: number | null;
  last: number | null;
}

/**
 * The finder's statement ($1 the cutoff, $2 how many), as sent: its plan is tested
 * (test/integration/bulk-retention.test.ts). The old finished bulks come from the partial index
 * bulk_reprocesses_finished_at_idx (migration 20261208000000), a range of its oldest entries,
 * whatever the number of recent or running bulks; each one's positions are two descents of the
 * items' primary key.
 */
export const EXPIRED_BULKS_SQL = `
  SELECT b.id,
         (SELECT min(i.position) FROM bulk_reprocess_items i WHERE i.bulk_id = b.id) AS first,
         (SELECT max(i.position) FROM bulk_reprocess_items i WHERE i.bulk_id = b.id) AS last
  FROM (SELECT id, finished_at FROM bulk_reprocesses
        WHERE state <> 'RUNNING' AND finished_at < $1
        ORDER BY finished_at LIMIT $2::int) b
  ORDER BY b.finished_at, b.id`;

/**
 * findExpiredBulks — In: the cutoff, how many at most. Does: nothing. Out: the finished bulks (DONE
 * or CANCELLED) that finished before the cutoff, oldest first, with the range of positions their
 * items still hold. A running bulk is never among them, however old. Locks: none.
 */
export async function findExpiredBulks(db: Queryable, cutoff: Date, limit: number): Promise<ExpiredBulk[]> {
  const { rows } = await db.query<ExpiredBulk>(EXPIRED_BULKS_SQL, [cutoff, limit]);
  return rows;
}

/**
 * The items' statement ($1 the bulk, positions in ($2, $3], $4 the cutoff), as sent: a range of the
 * primary key, so it deletes at most $3 - $2 rows (positions are unique) and reads no others.
 */
export const DELETE_BULK_ITEMS_SQL = `
  DELETE FROM bulk_reprocess_items
  WHERE bulk_id = $1 AND position > $2::int AND position <= $3::int
    AND EXISTS (SELECT 1 FROM bulk_reprocesses b WHERE b.id = $1 AND b.state <> 'RUNNING' AND b.finished_at < $4)`;

/**
 * deleteBulkItems — In: a bulk's id, a range of positions (after, upTo], the cutoff. Does: deletes
 * that range of the bulk's items, only while the bulk is finished and finished before the cutoff
 * (checked in the statement itself: a running bulk's items are never touched). Locks: those item
 * rows (no one else writes a finished bulk's items). Out: how many were deleted.
 */
export async function deleteBulkItems(db: Queryable, bulkId: string, after: number, upTo: number, cutoff: Date): Promise<number> {
  const { rowCount } = await db.query(DELETE_BULK_ITEMS_SQL, [bulkId, after, upTo, cutoff]);
  return rowCount ?? 0;
}

/**
 * deleteBulks — In: bulk ids, the cutoff. Does: deletes those of the bulks that are finished and
 * finished before the cutoff, with the items they still hold (the caller sends bulks whose remaining
 * items fit one statement: the rest went by deleteBulkItems). From then on GET of such a bulk answers
 * 404 and its Idempotency-Key starts a new bulk. Locks: those bulk rows and their items. Out: how many
 * bulks and items were deleted.
 */
export async function deleteBulks(db: Queryable, bulkIds: readonly string[], cutoff: Date): Promise<{ bulks: number; items: number }> {
  const { rows } = await db.query<{ bulks: number; items: number }>(
    `WITH bulks AS (
       DELETE FROM bulk_reprocesses WHERE id = ANY($1::text[]) AND state <> 'RUNNING' AND finished_at < $2 RETURNING id
     ), items AS (
       DELETE FROM bulk_reprocess_items WHERE bulk_id IN (SELECT id FROM bulks) RETURNING 1
     )
     SELECT (SELECT count(*) FROM bulks)::int AS bulks, (SELECT count(*) FROM items)::int AS items`,
    [bulkIds, cutoff],
  );
  return rows[0] ?? { bulks: 0, items: 0 };
}
