// selectBulkTasks — the tasks a bulk reprocess selects, in the order it applies them. Read-only.
//
// In:    the organization (the caller's), the selection — ids as given (in that order; each looked
//        up only within the organization, so another organization's task is "not found", exactly
//        as for one request) or the status list's filter (taskFilterSql: the same SQL as
//        GET …/statuslist, in id order) — the stuck thresholds (for `stuck=`), a limit and a
//        candidate budget.
// Bound: a filter with a condition no index serves (location, changedSince/changedUntil,
//        stuck=false, warning=false) is checked task by task over its candidates: the tasks of its
//        statuses, or of the organization when it names none. First a count of those, stopped at
//        `candidateBudget` + 1 (an index-only range of the organization's index); past the budget
//        the filter is refused (`tooBroad`) and the selection not run. Read on, such a filter in an
//        organization of 100M tasks passed the statement timeout, was answered 503 "try again", and
//        each retry read the organization again. (Pages in id order instead would bound it too, but
//        cost 7× the one statement's bitmap read of a 2M-task organization: docs/performance.md.)
// Locks: none (a snapshot read; each reprocess locks its row and decides the guard there). JIT off
//        for its transaction (below).
// Out:   up to `limit` found tasks with what the preview judges them by (status, workspace, age
//        in status by the database clock, whether edits or assignment work would be discarded),
//        the ids that named no task of the organization, whether more than `limit` matched, and
//        the candidates counted when there were too many.
import * as Prisma from "../../platform/db/sql.js";
import type { Db } from "../../platform/db/client.js";
import { taskFilterSql, type TaskStatusFilter } from "../../api/read-api/sql/list-task-statuses.js";
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
  /** The filter needs a task-by-task check over more than the candidate budget (this many counted): nothing was selected. Else null. */
  tooBroad: number | null;
}

/**
 * The most tasks a bulk's filter may check one by one (its candidates, see above): about 0.5 s of
 * the database for the selection's one statement (194 ms for 2M on the machine of docs/performance.md).
 */
export const BULK_CANDIDATE_BUDGET = 5_000_000;

/**
 * The candidates' count statement (its `n` stops at budget + 1), or null when every condition of the
 * filter is an index's (statuses, warning=true; stuck=true has its own bounded ranges): then the
 * selection reads only matching tasks, and stops at its limit.
 */
export function countCandidatesSql(organizationId: number, filter: TaskStatusFilter, budget: number): Prisma.Sql | null {
  const unindexed = filter.location !== null || filter.changedSince != null || filter.changedUntil != null || filter.stuck === false || filter.warning === false;
  if (filter.stuck === true || !unindexed) return null;
  const served =
    filter.warning === true
      ? Prisma.sql`AND t.warning` // literally, so the planner can prove the partial index's predicate
      : filter.statuses !== null
        ? Prisma.sql`AND t.status = ANY(${[...filter.statuses]}::smallint[])`
        : Prisma.empty;
  return Prisma.sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks t WHERE t.organization_id = ${organizationId}::int ${served} LIMIT ${budget + 1}::int) c`;
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

export async function selectBulkTasks(
  db: Db,
  organizationId: number,
  selection: BulkSelection,
  thresholds: StuckThresholds,
  limit: number,
  candidateBudget = BULK_CANDIDATE_BUDGET,
): Promise<Selected> {
  const count = selection.kind === "filter" ? countCandidatesSql(organizationId, selection.filter, candidateBudget) : null;
  if (count !== null) {
    const [counted] = await db.$queryRaw<{ n: number }[]>(count);
    if (counted!.n > candidateBudget) return { tasks: [], notFound: [], tooMany: false, tooBroad: counted!.n };
  }
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
  return { tasks: tooMany ? tasks.slice(0, limit) : tasks, notFound, tooMany, tooBroad: null };
}
