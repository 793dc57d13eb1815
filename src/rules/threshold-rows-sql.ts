// The resolver's rows (src/rules/resolve.ts, thresholdRows) as SQL: the one encoding every statement
// that judges "stuck" or "in flight" by the rules joins. A task's row is the one naming its
// workspace, else its status's row with workspace_id NULL, else none (no rule).
//
// Columns: status int, workspace_id int (NULL = every workspace no override names), seconds bigint
// (the threshold, kept when switched off), watched boolean (the sweep acts), probe int (-1 when not watched).
import * as Prisma from "../platform/db/sql.js";
import type { ThresholdRows } from "./resolve.js";

/** `unnest(…) AS <alias>(status, workspace_id, seconds, watched, probe)`: the rows as a table, for FROM or JOIN. */
export function thresholdRowsSql(rows: ThresholdRows, alias = "th"): Prisma.Sql {
  return Prisma.sql`unnest(${rows.statuses}::int[], ${rows.workspaceIds}::int[], ${rows.seconds}::bigint[], ${rows.watched}::boolean[], ${rows.probes}::int[])
    AS ${Prisma.raw(alias)}(status, workspace_id, seconds, watched, probe)`;
}

/**
 * A subquery giving the one row that resolves (status, workspace): for a LATERAL join where one row
 * (or a few) is judged, e.g. the reprocess guard on its locked row.
 */
export function resolvedRowSql(rows: ThresholdRows, status: Prisma.Sql, workspaceId: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(SELECT th.seconds, th.watched, th.probe FROM ${thresholdRowsSql(rows)}
    WHERE th.status = ${status} AND (th.workspace_id = ${workspaceId} OR th.workspace_id IS NULL)
    ORDER BY th.workspace_id IS NULL LIMIT 1)`;
}
