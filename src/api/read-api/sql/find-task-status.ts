// findTaskStatus — one task of one organization, for GET …/sdtask/status. Read-only.
//
// In:    organizationId (the caller's token's) and { taskId } or { externalId }. Both lookups are
//        scoped to the organization in the statement itself: another organization's task is
//        simply not found (the handler answers 404), never read. By the primary key, or by
//        tasks_organization_id_external_id_key.
// Locks: none (a plain snapshot read).
// Out:   the task's TaskStatusRow, or null.
import type { Db } from "../../../platform/db/client.js";
import { TASK_STATUS_COLUMNS, type TaskStatusRow } from "./task-status-columns.js";

export type OrganizationTaskRef = { taskId: number } | { externalId: string };

export async function findTaskStatus(db: Db, organizationId: number, ref: OrganizationTaskRef): Promise<TaskStatusRow | null> {
  const rows =
    "taskId" in ref
      ? await db.$queryRaw<TaskStatusRow[]>`
          SELECT ${TASK_STATUS_COLUMNS} FROM tasks t
          WHERE t.id = ${ref.taskId}::int AND t.organization_id = ${organizationId}::int`
      : await db.$queryRaw<TaskStatusRow[]>`
          SELECT ${TASK_STATUS_COLUMNS} FROM tasks t
          WHERE t.organization_id = ${organizationId}::int AND t.external_id = ${ref.externalId}::text`;
  return rows[0] ?? null;
}
