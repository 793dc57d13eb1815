// findTask — resolves a reprocess request's reference to one task row, read-only.
//
// In:    { taskId } or { externalId, organizationId }. An external id is unique only within an
//        organization (tasks_organization_id_external_id_key), so it is never looked up without
//        one: a request can never reach another organization's task by external id.
// Locks: none (a plain snapshot read; the reprocess transaction locks the row itself).
// Out:   { id, organizationId } of the task, or null when nothing matches. Callers that act for an
//        organization (the HTTP endpoint) compare organizationId themselves for a lookup by id.
import type { Db } from "../client.js";

export type TaskRef = { taskId: number } | { externalId: string; organizationId: number };

export async function findTask(db: Db, ref: TaskRef): Promise<{ id: number; organizationId: number } | null> {
  const rows =
    "taskId" in ref
      ? await db.$queryRaw<{ id: number; organization_id: number }[]>`
          SELECT id, organization_id FROM tasks WHERE id = ${ref.taskId}::int`
      : await db.$queryRaw<{ id: number; organization_id: number }[]>`
          SELECT id, organization_id FROM tasks
          WHERE organization_id = ${ref.organizationId}::int AND external_id = ${ref.externalId}::text`;
  const row = rows[0];
  return row ? { id: row.id, organizationId: row.organization_id } : null;
}
