// listTaskEvents — one page of one task's audit trail (task_events), oldest first, for
// GET …/sdtask/events. Read-only.
//
// In:    taskId (already resolved within the caller's organization by findTaskStatus), afterId
//        (keyset: the last event id of the previous page, 0 for the first) and limit. Order is the
//        event id: every writer of a task's events holds the task's row lock while it inserts
//        them, so one task's ids follow its commits. Access path: task_events_task_id_created_at_idx.
// Locks: none (a plain snapshot read).
// Out:   up to `limit` events, and whether more follow.
import type { Db } from "../../../platform/db/client.js";
import type { TaskEventColumns } from "../../../rules/task-event.js";

export interface TaskEventRow extends TaskEventColumns {
  id: bigint;
  details: unknown;
}

export async function listTaskEvents(db: Db, taskId: number, afterId: bigint, limit: number): Promise<{ events: TaskEventRow[]; more: boolean }> {
  const rows = await db.$queryRaw<TaskEventRow[]>`
    SELECT e.id, e.kind::text AS kind, e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id,
           e.stuck_since, e.details, e.created_at
    FROM task_events e
    WHERE e.task_id = ${taskId}::int AND e.id > ${afterId}::bigint
    ORDER BY e.id
    LIMIT ${limit + 1}::int`;
  return { events: rows.slice(0, limit), more: rows.length > limit };
}
