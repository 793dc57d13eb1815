// listTaskStatuses — one page of one organization's tasks, for GET …/sdtask/statuslist. Read-only.
//
// In:    organizationId (the caller's token's), optional filters (statuses, warning, location,
//        stuck-now, status changed since/until), afterId (keyset: the last id of the previous page, 0 for the first) and limit.
//        Order is id ascending: an id never changes, so a task that exists throughout is listed
//        exactly once over all pages however tasks change status between them (a sort key that
//        moves — status_changed_at — would let a task jump back behind the cursor or ahead of it).
//        Access path: tasks_organization_id_id_idx (organization_id, id), read from afterId on.
//        Stuck-now joins the resolver's rows (src/rules/resolve.ts, thresholdRows: one per rule, one
//        per overridden workspace) twice, hash-joined: the workspace's own row, else the status's
//        row for every other workspace — the same verdict as src/rules/stuck.ts, by the database
//        clock, at a cost independent of how many overrides exist.
// Locks: none (a plain snapshot read).
// Out:   up to `limit` rows, and whether more follow.
import { Prisma } from "../../../generated/prisma/client.js";
import type { ThresholdRows } from "../../../rules/resolve.js";
import { thresholdRowsSql } from "../../../rules/threshold-rows-sql.js";
import type { Db } from "../../../platform/db/client.js";
import { TASK_STATUS_COLUMNS, type TaskStatusRow } from "./task-status-columns.js";

export interface TaskStatusFilter {
  readonly statuses: readonly number[] | null;
  readonly warning: boolean | null;
  readonly location: "INBOX" | "HISTORY" | null;
  readonly stuck: boolean | null;
  /** status_changed_at at or after this instant (absent: any). */
  readonly changedSince?: Date | null;
  /** status_changed_at before this instant (absent: any). */
  readonly changedUntil?: Date | null;
}

export interface TaskStatusPage {
  readonly tasks: TaskStatusRow[];
  readonly more: boolean;
}

/**
 * The filter as SQL over `tasks t`: the FROM items it needs and the WHERE conditions. The status
 * list pages with it; a bulk reprocess selects its tasks with it (src/reprocess/sql/select-bulk-tasks.ts).
 */
export function taskFilterSql(organizationId: number, filter: TaskStatusFilter, thresholds: ThresholdRows): { from: Prisma.Sql; conditions: Prisma.Sql[] } {
  const stuckJoin =
    filter.stuck === null
      ? Prisma.empty
      : Prisma.sql`
    LEFT JOIN (SELECT * FROM ${thresholdRowsSql(thresholds, "d")} WHERE d.workspace_id IS NULL) d ON d.status = t.status
    LEFT JOIN (SELECT * FROM ${thresholdRowsSql(thresholds, "o")} WHERE o.workspace_id IS NOT NULL) o ON o.status = t.status AND o.workspace_id = t.workspace_id`;
  const conditions: Prisma.Sql[] = [Prisma.sql`t.organization_id = ${organizationId}::int`];
  if (filter.statuses !== null) conditions.push(Prisma.sql`t.status = ANY(${[...filter.statuses]}::smallint[])`);
  if (filter.warning !== null) conditions.push(Prisma.sql`t.warning = ${filter.warning}::boolean`);
  if (filter.location !== null) conditions.push(Prisma.sql`t.location = ${filter.location}::task_location`);
  if (filter.changedSince != null) conditions.push(Prisma.sql`t.status_changed_at >= ${filter.changedSince}::timestamptz`);
  if (filter.changedUntil != null) conditions.push(Prisma.sql`t.status_changed_at < ${filter.changedUntil}::timestamptz`);
  if (filter.stuck !== null) {
    // An override row decides alone (watched false switches the rule off for the workspace).
    const stuck = Prisma.sql`(t.location = 'INBOX' AND
      (CASE WHEN o.status IS NOT NULL THEN o.watched AND t.status_changed_at < now() - o.seconds * interval '1 second'
            ELSE d.watched AND t.status_changed_at < now() - d.seconds * interval '1 second' END))`;
    conditions.push(filter.stuck ? Prisma.sql`${stuck} IS TRUE` : Prisma.sql`${stuck} IS NOT TRUE`);
  }
  return { from: Prisma.sql`tasks t ${stuckJoin}`, conditions };
}

export function listTaskStatusesSql(organizationId: number, filter: TaskStatusFilter, thresholds: ThresholdRows, afterId: number, limit: number): Prisma.Sql {
  const { from, conditions } = taskFilterSql(organizationId, filter, thresholds);
  return Prisma.sql`
    SELECT ${TASK_STATUS_COLUMNS}
    FROM ${from}
    WHERE ${Prisma.join([...conditions, Prisma.sql`t.id > ${afterId}::int`], " AND ")}
    ORDER BY t.id
    LIMIT ${limit + 1}::int`;
}

export async function listTaskStatuses(db: Db, organizationId: number, filter: TaskStatusFilter, thresholds: ThresholdRows, afterId: number, limit: number): Promise<TaskStatusPage> {
  const rows = await db.$queryRaw<TaskStatusRow[]>(listTaskStatusesSql(organizationId, filter, thresholds, afterId, limit));
  return { tasks: rows.slice(0, limit), more: rows.length > limit };
}
