// selectBulkTasks — the tasks a bulk reprocess selects, in the order it applies them. Read-only.
//
// In:    the organization (the caller's), the selection — ids as given (in that order; each looked
//        up only within the organization, so another organization's task is "not found", exactly
//        as for one request) or the status list's filter (taskFilterSql: the same SQL as
//        GET …/statuslist, in id order) — the stuck thresholds (for `stuck=`) and a limit.
// Locks: none (a snapshot read; each reprocess locks its row and decides the guard there). JIT off
//        for its transaction (below).
// Out:   up to `limit` found tasks with what the preview judges them by (status, workspace, age
//        in status by the database clock, whether edits or assignment work would be discarded),
//        the ids that named no task of the organization, and whether more than `limit` matched.
import * as Prisma from "../../platform/db/sql.js";
import type { Db } from "../../platform/db/client.js";
import { taskFilterSql } from "../../api/read-api/sql/list-task-statuses.js";
import type { StuckThresholds } from "../../rules/stuck.js";
import type { BulkSelection } from "../bulk-request.js";

export interface SelectedTask {
  id: number;
  externalId: string | null;
  status: number;
  workspaceId: number;
  statusAgeSeconds: number;
  /** `edits` holds something (not NULL, JSON null, {} or []): the reprocess discards it. */
  hasEdits: boolean;
  /** An assignment is IN_PROGRESS, COMPLETED or REJECTED: the reprocess sets it back to PENDING. */
  hasAssignmentWork: boolean;
}

export interface Selected {
  tasks: SelectedTask[];
  /** Ids of the list that named no task of the organization. */
  notFound: (number | string)[];
  /** More than `limit` tasks matched (the filter case). */
  tooMany: boolean;
}

interface Row {
  asked: number | string | null;
  id: number | null;
  external_id: string | null;
  status: number;
  workspace_id: number;
  age_seconds: number;
  has_edits: boolean;
  has_assignment_work: boolean;
}

const COLUMNS = Prisma.sql`t.id, t.external_id, t.status::int AS status, t.workspace_id,
  extract(epoch FROM now() - t.status_changed_at)::float8 AS age_seconds,
  (t.edits IS NOT NULL AND t.edits NOT IN ('null'::jsonb, '{}'::jsonb, '[]'::jsonb)) AS has_edits,
  EXISTS (SELECT 1 FROM task_assignments a WHERE a.task_id = t.id AND a.status <> 'PENDING') AS has_assignment_work`;

export function selectBulkTasksSql(organizationId: number, selection: BulkSelection, thresholds: StuckThresholds, limit: number): Prisma.Sql {
  if (selection.kind === "taskIds") {
    return Prisma.sql`
      SELECT s.asked, ${COLUMNS}
      FROM unnest(${selection.taskIds}::int[]) WITH ORDINALITY AS s(asked, ord)
      LEFT JOIN tasks t ON t.id = s.asked AND t.organization_id = ${organizationId}::int
      ORDER BY s.ord`;
  }
  if (selection.kind === "externalIds") {
    return Prisma.sql`
      SELECT s.asked, ${COLUMNS}
      FROM unnest(${selection.externalIds}::text[]) WITH ORDINALITY AS s(asked, ord)
      LEFT JOIN tasks t ON t.organization_id = ${organizationId}::int AND t.external_id = s.asked
      ORDER BY s.ord`;
  }
  const { from, conditions } = taskFilterSql(organizationId, selection.filter, thresholds, limit + 1);
  return Prisma.sql`
    SELECT NULL AS asked, ${COLUMNS}
    FROM ${from}
    WHERE ${Prisma.join(conditions, " AND ")}
    ORDER BY t.id
    LIMIT ${limit + 1}::int`;
}

export async function selectBulkTasks(db: Db, organizationId: number, selection: BulkSelection, thresholds: StuckThresholds, limit: number): Promise<Selected> {
  // Without JIT: the per-status ranges of `stuck=true` are costed at their limit (50,001 rows each,
  // the planner cannot know how few tasks are stuck), which made PostgreSQL spend 3.4 s compiling
  // a statement that then ran in 13 ms. SET LOCAL: this transaction only (PgBouncer-safe).
  const [, rows] = await db.$transaction([
    db.$executeRawUnsafe("SET LOCAL jit = off"),
    db.$queryRaw<Row[]>(selectBulkTasksSql(organizationId, selection, thresholds, limit)),
  ]);
  const tasks: SelectedTask[] = [];
  const notFound: (number | string)[] = [];
  for (const row of rows) {
    if (row.id === null) {
      notFound.push(row.asked!);
      continue;
    }
    tasks.push({
      id: row.id,
      externalId: row.external_id,
      status: row.status,
      workspaceId: row.workspace_id,
      statusAgeSeconds: row.age_seconds,
      hasEdits: row.has_edits,
      hasAssignmentWork: row.has_assignment_work,
    });
  }
  const tooMany = tasks.length > limit;
  return { tasks: tooMany ? tasks.slice(0, limit) : tasks, notFound, tooMany };
}
