// listTaskEvents — one page of one task's audit trail (task_events), oldest first, for
// GET …/sdtask/events. Read-only.
//
// In:    taskId (already resolved within the caller's organization by findTaskStatus), afterId
//        (keyset: the last event id of the previous page, 0 for the first) and limit. Order is the
//        event id: every writer of a task's events holds the task's row lock while it inserts
//        them, so one task's ids follow its commits. Access path: task_events_task_id_created_at_idx.
// Cost:  the task's events after the cursor (read, then sorted by id), never the month's partition.
//        The task's rows are taken in a MATERIALIZED CTE, which the planner cannot answer from the
//        primary key's id order: with `ORDER BY id LIMIT` alone it walked task_events_pkey from the
//        cursor on and filtered task_id row by row — every event of every organization in the
//        partition, ~400 ms and 38,000 buffers per page for a task with 3,000 of 1.9M events. No
//        index has (task_id, id); a task with very many events (300,000: 260 ms a page) would need one.
// Locks: none (a plain snapshot read).
// Out:   up to `limit` events, and whether more follow.
import * as Prisma from "../../../platform/db/sql.js";
import type { Db } from "../../../platform/db/client.js";
import type { TaskEventColumns } from "../../../rules/task-event.js";

export interface TaskEventRow extends TaskEventColumns {
  id: bigint;
  details: unknown;
}

/** The task's events after `afterId` (all of them, the task's index range), as a CTE named `e`. */
export function taskEventsCte(taskId: number, afterId: bigint): Prisma.Sql {
  return Prisma.sql`e AS MATERIALIZED (
    SELECT e.id, e.kind::text AS kind, e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id,
           e.stuck_since, e.details, e.created_at
    FROM task_events e
    WHERE e.task_id = ${taskId}::int AND e.id > ${afterId}::bigint)`;
}

export function listTaskEventsSql(taskId: number, afterId: bigint, limit: number): Prisma.Sql {
  return Prisma.sql`WITH ${taskEventsCte(taskId, afterId)} SELECT * FROM e ORDER BY e.id LIMIT ${limit + 1}::int`;
}

export async function listTaskEvents(db: Db, taskId: number, afterId: bigint, limit: number): Promise<{ events: TaskEventRow[]; more: boolean }> {
  const rows = await db.$queryRaw<TaskEventRow[]>(listTaskEventsSql(taskId, afterId, limit));
  return { events: rows.slice(0, limit), more: rows.length > limit };
}
