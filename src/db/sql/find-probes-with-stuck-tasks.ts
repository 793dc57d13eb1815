// findProbesWithStuckTasks — read-only: which of a sweep's probes have at least one stuck task
// right now, all answered in one round trip.
//
// In:    the probes of the effective rules.
// Locks: none (a plain snapshot read).
// Does:  per probe, the oldest stuck task's timestamp over stuckWhere (ORDER BY status_changed_at
//        LIMIT 1): a range probe of tasks_inbox_status_changed_at_idx that stops at the first row.
//        Not EXISTS: the planner drops an EXISTS's ORDER BY/LIMIT and, misjudging how many finished
//        tasks are still in the inbox (status and location are correlated), may pick a seq scan
//        "to find the first of thousands"; with the ordering it must sort, so the index wins.
// Out:   the probes that have work, in the order given.
//
// Why: a sweep runs every interval and nearly always finds nothing. Without this check it sends
// every probe's batch statement (a four-part CTE with UPDATE and INSERT, planned afresh each
// time), ~0.7 ms each; with it, a quiet sweep is one cheap query and the batch statements run
// only for statuses that have stuck tasks (bench: "steady sweep" figures). A task that gets stuck
// just after this check is the next sweep's, exactly as if it got stuck just after its probe.
import { Prisma } from "../../generated/prisma/client.js";
import type { Probe } from "../../domain/rules.js";
import type { Db } from "../client.js";
import { stuckWhere } from "./stuck-candidates.js";

/** The statement itself, exported so test/integration/query-plan.test.ts can EXPLAIN exactly it. */
export function probesWithStuckTasksSql(probes: readonly Probe[]): Prisma.Sql {
  const checks = probes.map((probe) => Prisma.sql`(SELECT t.status_changed_at FROM tasks t WHERE ${stuckWhere(probe)} ORDER BY t.status_changed_at LIMIT 1) IS NOT NULL`);
  return Prisma.sql`SELECT ARRAY[${Prisma.join(checks)}]::boolean[] AS stuck`;
}

export async function findProbesWithStuckTasks(db: Db, probes: readonly Probe[]): Promise<Probe[]> {
  if (probes.length === 0) return [];
  const rows = await db.$queryRaw<{ stuck: boolean[] }[]>(probesWithStuckTasksSql(probes));
  const stuck = rows[0]?.stuck ?? [];
  return probes.filter((_, i) => stuck[i] === true);
}
