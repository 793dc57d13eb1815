// findBulk — one bulk reprocess of an organization, with its progress. Read-only; another
// organization's bulk is not found (ids cannot be probed).
import type { Db, Queries } from "../../platform/db/client.js";
import { BULK_COLUMNS, toBulk, type Bulk, type BulkRow } from "./bulk-row.js";

export async function findBulk(db: Db, organizationId: number, bulkId: string): Promise<Bulk | null> {
  const [row] = await db.$queryRaw<BulkRow[]>`
    SELECT ${BULK_COLUMNS} FROM bulk_reprocesses WHERE id = ${bulkId} AND organization_id = ${organizationId}::int`;
  return row ? toBulk(row) : null;
}

/** The bulk an Idempotency-Key of the organization already started, if any. `db` may be an open transaction. */
export async function findBulkByKey(db: Pick<Queries, "$queryRaw">, organizationId: number, idempotencyKey: string): Promise<Bulk | null> {
  const [row] = await db.$queryRaw<BulkRow[]>`
    SELECT ${BULK_COLUMNS} FROM bulk_reprocesses WHERE organization_id = ${organizationId}::int AND idempotency_key = ${idempotencyKey}`;
  return row ? toBulk(row) : null;
}

/** How many bulks of an organization are running, and the ids of the oldest few (to name them in a refusal). */
export interface RunningBulks {
  count: number;
  oldest: string[];
}

/** The oldest ids named: a refusal stays one short line however many run. */
export const RUNNING_BULKS_NAMED = 5;

/** The organization's running bulks (the partial index bulk_reprocesses_running_idx). `db` may be an open transaction. */
export async function runningBulks(db: Pick<Queries, "$queryRaw">, organizationId: number): Promise<RunningBulks> {
  const rows = await db.$queryRaw<{ id: string; n: number }[]>`
    SELECT id, count(*) OVER ()::int AS n FROM bulk_reprocesses
    WHERE organization_id = ${organizationId}::int AND state = 'RUNNING'
    ORDER BY created_at, id
    LIMIT ${RUNNING_BULKS_NAMED}::int`;
  return { count: rows[0]?.n ?? 0, oldest: rows.map((r) => r.id) };
}
