// findBulk — one bulk reprocess of an organization, with its progress. Read-only; another
// organization's bulk is not found (ids cannot be probed).
import type { Db } from "../../platform/db/client.js";
import { BULK_COLUMNS, toBulk, type Bulk, type BulkRow } from "./bulk-row.js";

export async function findBulk(db: Db, organizationId: number, bulkId: string): Promise<Bulk | null> {
  const [row] = await db.$queryRaw<BulkRow[]>`
    SELECT ${BULK_COLUMNS} FROM bulk_reprocesses WHERE id = ${bulkId} AND organization_id = ${organizationId}::int`;
  return row ? toBulk(row) : null;
}

/** The bulk an Idempotency-Key of the organization already started, if any. */
export async function findBulkByKey(db: Db, organizationId: number, idempotencyKey: string): Promise<Bulk | null> {
  const [row] = await db.$queryRaw<BulkRow[]>`
    SELECT ${BULK_COLUMNS} FROM bulk_reprocesses WHERE organization_id = ${organizationId}::int AND idempotency_key = ${idempotencyKey}`;
  return row ? toBulk(row) : null;
}
