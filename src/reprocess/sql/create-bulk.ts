// createBulk — accepts a bulk reprocess: the bulk row and its selection snapshot, or the bulk an
// earlier request with the same Idempotency-Key created.
//
// In:    the organization, the Idempotency-Key and the request's hash, what was asked (display),
//        force, the actor, the HTTP request id, and the items in the order they will be applied:
//        task ids, or external ids (looked up when applied, as one request by external id is).
// Locks: the unique index entry (organization_id, idempotency_key): a concurrent request with
//        the same key waits for this one's commit, then finds its bulk (ON CONFLICT DO NOTHING).
// Does:  one statement — inserts the bulk (RUNNING) and one item per task, or nothing when the key
//        was used; then (only in that case) reads the bulk the key names.
// Out:   { created: true, bulk } or { created: false, bulk } (the earlier one; the caller compares
//        its request hash).
import type { Db } from "../../platform/db/client.js";
import { BULK_COLUMNS, toBulk, type Bulk, type BulkRow } from "./bulk-row.js";

export interface NewBulk {
  organizationId: number;
  idempotencyKey: string;
  requestHash: string;
  selection: Record<string, unknown>;
  force: boolean;
  requestedBy: string;
  httpRequestId: string | null;
  items: { taskIds: number[] } | { externalIds: string[] };
}

export async function createBulk(db: Db, bulk: NewBulk): Promise<{ created: boolean; bulk: Bulk }> {
  const taskIds = "taskIds" in bulk.items ? bulk.items.taskIds : null;
  const externalIds = "externalIds" in bulk.items ? bulk.items.externalIds : null;
  const total = (taskIds ?? externalIds ?? []).length;
  const [inserted] = await db.$queryRaw<BulkRow[]>`
    WITH bulk AS (
      INSERT INTO bulk_reprocesses (organization_id, idempotency_key, request_hash, selection, force, requested_by, http_request_id, total)
      VALUES (${bulk.organizationId}::int, ${bulk.idempotencyKey}, ${bulk.requestHash}, ${JSON.stringify(bulk.selection)}::jsonb, ${bulk.force}::boolean,
              ${bulk.requestedBy}, ${bulk.httpRequestId}::text, ${total}::int)
      ON CONFLICT (organization_id, idempotency_key) DO NOTHING
      RETURNING ${BULK_COLUMNS}
    ), items AS (
      INSERT INTO bulk_reprocess_items (bulk_id, position, organization_id, task_id, external_id)
      SELECT bulk.id, s.ord::int, ${bulk.organizationId}::int, s.task_id, s.external_id
      FROM bulk, unnest(${taskIds}::int[], ${externalIds}::text[]) WITH ORDINALITY AS s(task_id, external_id, ord)
    )
    SELECT * FROM bulk`;
  if (inserted) return { created: true, bulk: toBulk(inserted) };
  const [earlier] = await db.$queryRaw<BulkRow[]>`
    SELECT ${BULK_COLUMNS} FROM bulk_reprocesses WHERE organization_id = ${bulk.organizationId}::int AND idempotency_key = ${bulk.idempotencyKey}`;
  if (!earlier) throw new Error("createBulk: the Idempotency-Key conflicted but no bulk carries it");
  return { created: false, bulk: toBulk(earlier) };
}
