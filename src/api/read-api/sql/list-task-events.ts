// listTaskEvents — one page of one task's audit trail (task_events), oldest first, for
// GET …/sdtask/events; taskEventsPageSql also serves the console's trail (newest first). Read-only.
//
// In:    taskId (already resolved within the caller's organization by findTaskStatus), afterId
//        (keyset: the last event id of the previous page, 0 for the first) and limit. Order is the
//        event id: every writer of a task's events holds the task's row lock while it inserts
//        them, so one task's ids follow its commits.
// Cost:  one page: task_events_task_id_id_idx, a range per monthly partition, merged in id order
//        and stopped at the limit, whatever the task's or the partition's size (1.4 ms instead of
//        174 ms for the first page of a task with 300,000 events; docs/performance.md).
//        The task is named `task_id = ANY (ARRAY[…])` and the order is (task_id, id). With
//        `task_id = … ORDER BY id` the planner may take the primary key's id order and filter
//        task_id row by row, which for a task with few events after the cursor (a client polling
//        the last page) walks the rest of the partition: 100,210 rows for 10 events in
//        task-events-bounds.test.ts, ~400 ms for a task with 3,000 of 1.9M events. A one-element
//        `= ANY` keeps the estimate of the task's size from its statistics but, unlike `=`, does
//        not make task_id a constant the order can drop, so only an index led by task_id can
//        serve the order. (Bounds written as a row comparison did that too, but PostgreSQL
//        estimates them from task_id's place among the ids: pages of small tasks then sorted all
//        their events, large ones at random.)
//        On a partition the index is not yet built on (a migration creates it unfinished and
//        `watchdog migrate` builds it per partition; `prisma migrate deploy` stops before), the
//        same order comes from task_events_task_id_created_at_idx and a sort: the page reads that
//        partition's events of the task, never the partition.
// Locks: none (a plain snapshot read).
// Out:   up to `limit` events, and whether more follow.
import * as Prisma from "../../../platform/db/sql.js";
import type { Db } from "../../../platform/db/client.js";
import type { TaskEventColumns } from "../../../rules/task-event.js";

export interface TaskEventRow extends TaskEventColumns {
  id: bigint;
  details: unknown;
}

/** Up to `limit` of the task's events after `afterId`, oldest or newest first. */
export function taskEventsPageSql(taskId: number, afterId: bigint, limit: number, order: "oldest" | "newest"): Prisma.Sql {
  const direction = order === "oldest" ? Prisma.raw("ASC") : Prisma.raw("DESC");
  return Prisma.sql`
    SELECT e.id, e.kind::text AS kind, e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id,
           e.stuck_since, e.details, e.created_at
    FROM task_events e
    WHERE e.task_id = ANY (ARRAY[${taskId}::int]) AND e.id > ${afterId}::bigint
    ORDER BY e.task_id ${direction}, e.id ${direction}
    LIMIT ${limit}::int`;
}

export async function listTaskEvents(db: Db, taskId: number, afterId: bigint, limit: number): Promise<{ events: TaskEventRow[]; more: boolean }> {
  const rows = await db.$queryRaw<TaskEventRow[]>(taskEventsPageSql(taskId, afterId, limit + 1, "oldest"));
  return { events: rows.slice(0, limit), more: rows.length > limit };
}
