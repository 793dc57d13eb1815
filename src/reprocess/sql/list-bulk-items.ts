// listBulkItems — one page of a bulk's items (its tasks and what became of each), in the order
// they are applied. Read-only. The caller has checked the bulk is the organization's (findBulk).
//
// In:    the bulk id, an optional outcome (or "pending"), afterPosition (keyset), limit.
// Out:   up to `limit` items and whether more follow.
import * as Prisma from "../../platform/db/sql.js";
import type { Db } from "../../platform/db/client.js";

export type BulkItemOutcome = "applied" | "refused" | "not_found" | "pending";

export interface BulkItem {
  position: number;
  taskId: number | null;
  externalId: string | null;
  outcome: BulkItemOutcome;
  reason: string | null;
  processedAt: Date | null;
}

interface Row {
  position: number;
  task_id: number | null;
  external_id: string | null;
  outcome: string | null;
  reason: string | null;
  processed_at: Date | null;
}

export async function listBulkItems(db: Db, bulkId: string, outcome: BulkItemOutcome | null, afterPosition: number, limit: number): Promise<{ items: BulkItem[]; more: boolean }> {
  const filter =
    outcome === null ? Prisma.empty : outcome === "pending" ? Prisma.sql`AND outcome IS NULL` : Prisma.sql`AND outcome = ${outcome.toUpperCase()}::bulk_reprocess_outcome`;
  const rows = await db.$queryRaw<Row[]>`
    SELECT position, task_id, external_id, outcome::text AS outcome, reason, processed_at
    FROM bulk_reprocess_items
    WHERE bulk_id = ${bulkId} AND position > ${afterPosition}::int ${filter}
    ORDER BY position
    LIMIT ${limit + 1}::int`;
  const items = rows.slice(0, limit).map((r) => ({
    position: r.position,
    taskId: r.task_id,
    externalId: r.external_id,
    outcome: (r.outcome?.toLowerCase() ?? "pending") as BulkItemOutcome,
    reason: r.reason,
    processedAt: r.processed_at,
  }));
  return { items, more: rows.length > limit };
}
