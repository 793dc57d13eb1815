// cancelBulk — stops a running bulk reprocess of an organization.
//
// In:    the organization, the bulk id, who cancels.
// Locks: the bulk row (the UPDATE). A slice of the pacing loop that is applying this bulk's items
//        right now ends with `UPDATE … WHERE state = 'RUNNING'` on the same row: if this cancel
//        commits first, that slice finds it CANCELLED and rolls back whole (none of its items is
//        applied); if the slice commits first, this waits for it (milliseconds) and cancels after.
//        So once cancelBulk returns, no further item of the bulk is ever applied.
// Out:   { cancelled: true, bulk } with the counts as they stand; { cancelled: false, bulk } when
//        it was no longer running (done, or cancelled before); null when the organization has no
//        such bulk.
import type { Db } from "../../platform/db/client.js";
import { BULK_COLUMNS, toBulk, type Bulk, type BulkRow } from "./bulk-row.js";
import { findBulk } from "./find-bulk.js";

export async function cancelBulk(db: Db, organizationId: number, bulkId: string, cancelledBy: string): Promise<{ cancelled: boolean; bulk: Bulk } | null> {
  const [row] = await db.$queryRaw<BulkRow[]>`
    UPDATE bulk_reprocesses SET state = 'CANCELLED', finished_at = now(), cancelled_by = ${cancelledBy}
    WHERE id = ${bulkId} AND organization_id = ${organizationId}::int AND state = 'RUNNING'
    RETURNING ${BULK_COLUMNS}`;
  if (row) return { cancelled: true, bulk: toBulk(row) };
  const bulk = await findBulk(db, organizationId, bulkId);
  return bulk ? { cancelled: false, bulk } : null;
}
