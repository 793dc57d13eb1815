// findStatusesWithStuckTasks — read-only: which statuses of a sweep have at least one stuck task
// right now, all answered in one round trip.
//
// In:    the status plans of the effective rules (thresholds as data, src/domain/sweep-plan.ts).
// Locks: none (a plain snapshot read).
// Does:  per status, the oldest inbox task (one descent of tasks_inbox_status_changed_at_idx,
//        ORDER BY status_changed_at LIMIT 1) against the shortest threshold: younger = quiet. A
//        status with workspace overrides and an old task then judges each workspace by its own
//        threshold (stuck-workspaces.ts: one descent per workspace, never the rows of a switched-off
//        one). Not EXISTS for the first step: the planner drops an EXISTS's ORDER BY/LIMIT and may
//        pick a seq scan "to find the first of thousands".
// Out:   the plans that have work, in the order given. A report-only status whose stuck tasks are
//        all flagged already still counts: its statement finds nothing new and ends.
//
// Why: a sweep runs every interval and nearly always finds nothing. With this check a quiet sweep
// is one cheap query whatever the number of overrides, and the batch statements run only for
// statuses that have stuck tasks. A task that gets stuck just after this check is the next sweep's.
import { Prisma } from "../../generated/prisma/client.js";
import type { StatusPlan } from "../../domain/sweep-plan.js";
import type { Db } from "../client.js";
import { stuckWorkspacesCtes } from "./stuck-workspaces.js";

const hasOverrides = (plan: StatusPlan) => plan.thresholds.workspaceIds.length > 0;

/** The statement itself, exported so test/integration/query-plan.test.ts can EXPLAIN exactly it. */
export function statusesWithStuckTasksSql(plans: readonly StatusPlan[]): Prisma.Sql {
  const ctes = plans.flatMap((plan, i) => (hasOverrides(plan) ? [stuckWorkspacesCtes(plan.status, plan.thresholds, plan.minSeconds, `_${i}`)] : []));
  const checks = plans.map((plan, i) =>
    hasOverrides(plan)
      ? Prisma.sql`EXISTS (SELECT 1 FROM ${Prisma.raw(`stuck_ws_${i}`)})`
      : Prisma.sql`coalesce((SELECT t.status_changed_at FROM tasks t WHERE t.location = 'INBOX' AND t.status = ${plan.status}::smallint
                    ORDER BY t.status_changed_at LIMIT 1) < now() - ${plan.minSeconds}::bigint * interval '1 second', false)`,
  );
  const select = Prisma.sql`SELECT ARRAY[${Prisma.join(checks)}]::boolean[] AS stuck`;
  return ctes.length === 0 ? select : Prisma.sql`WITH RECURSIVE ${Prisma.join(ctes, ", ")} ${select}`;
}

export async function findStatusesWithStuckTasks(db: Db, plans: readonly StatusPlan[]): Promise<StatusPlan[]> {
  if (plans.length === 0) return [];
  const rows = await db.$queryRaw<{ stuck: boolean[] }[]>(statusesWithStuckTasksSql(plans));
  const stuck = rows[0]?.stuck ?? [];
  return plans.filter((_, i) => stuck[i] === true);
}
