// findTask — resolves a reprocess request's reference to one task row, read-only.
//
// In:    { taskId } or { externalId, organizationId }. An external id is unique only within an
//        organization (tasks_organization_id_external_id_key), so it is never looked up without
//        one: a request can never reach another organization's task by external id.
// Locks: none (a plain snapshot read; the reprocess statement locks the row itself and makes the
//        authoritative guard decision there).
// Out:   { id, organizationId, workspaceId, status, statusAgeSeconds (database clock) } of the
//        task, or null when nothing matches. Callers that act for an organization (the HTTP
//        endpoint) compare organizationId themselves for a lookup by id; they judge the reprocess
//        guard early from status and age.
import type { Db } from "../../platform/db/client.js";

export type TaskRef = { taskId: number } | { externalId: string; organizationId: number };

export interface FoundTask {
  id: number;
  organizationId: number;
  workspaceId: number;
  status: number;
  statusAgeSeconds: number;
}

interface Row {
  id: number;
  organization_id: number;
  workspace_id: number;
  status: number;
  age_seconds: number;
}

export async function findTask(db: Db, ref: TaskRef): Promise<FoundTask | null> {
  const rows =
    "taskId" in ref
      ? await db.$queryRaw<Row[]>`
          SELECT id, organization_id, workspace_id, status::int AS status, extract(epoch FROM now() - status_changed_at)::float8 AS age_seconds
          FROM tasks WHERE id = ${ref.taskId}::int`
      : await db.$queryRaw<Row[]>`
          SELECT id, organization_id, workspace_id, status::int AS status, extract(epoch FROM now() - status_changed_at)::float8 AS age_seconds
          FROM tasks WHERE organization_id = ${ref.organizationId}::int AND external_id = ${ref.externalId}::text`;
  const row = rows[0];
  return row ? { id: row.id, organizationId: row.organization_id, workspaceId: row.workspace_id, status: row.status, statusAgeSeconds: row.age_seconds } : null;
}
