// countStuckForGauges — read-only: per status, how many inbox tasks are stuck and since when the
// oldest has waited, for watchdog_tasks_stuck and watchdog_oldest_stuck_age_seconds (taken once per
// interval for the deployment: ../stuck-counts.ts).
//
// In:    the status plans.
// Locks: none, no writes.
// Does:  a status without workspace overrides has one threshold, so its stuck tasks are one index
//        range of tasks_inbox_status_changed_at_idx (status, status_changed_at < now() - seconds):
//        all such statuses in ONE statement, each costing its stuck rows — not one descent per
//        workspace with inbox tasks, which is what judging every workspace (the loose scan of
//        stuck-workspaces.ts) costs: ~1.25 s per count at 50,000 workspaces and six statuses.
//        A status with overrides is judged workspace by workspace, as the sweep does
//        (countStuckByProbe), since an override may move its threshold either way.
// Out:   by status name: { count, oldestSinceMs }.
import * as Prisma from "../../platform/db/sql.js";
import type { Db } from "../../platform/db/client.js";
import { countStuckByProbe } from "./count-stuck-by-probe.js";
import type { StatusPlan } from "../sweep-plan.js";
import type { StuckOfStatus } from "../stuck-counts.js";

export async function countStuckForGauges(db: Db, plans: readonly StatusPlan[]): Promise<Record<string, StuckOfStatus>> {
  const byStatus: Record<string, StuckOfStatus> = {};
  const simple = plans.filter((p) => p.thresholds.workspaceIds.length === 0 && p.thresholds.defaultSeconds !== null);
  if (simple.length > 0) {
    const rows = await db.$queryRaw<{ status: number; count: number; oldest: Date | null }[]>(Prisma.sql`
      SELECT s.status::int AS status, x.count, x.oldest
      FROM unnest(${simple.map((p) => p.status)}::smallint[], ${simple.map((p) => p.thresholds.defaultSeconds!)}::bigint[]) AS s(status, seconds)
      CROSS JOIN LATERAL (
        SELECT count(*)::int AS count, min(t.status_changed_at) AS oldest
        FROM tasks t
        WHERE t.location = 'INBOX' AND t.status = s.status AND t.status_changed_at < now() - s.seconds * interval '1 second'
      ) x`);
    for (const plan of simple) {
      const row = rows.find((r) => r.status === plan.status);
      byStatus[plan.statusName] = { count: row?.count ?? 0, oldestSinceMs: row?.oldest?.getTime() ?? null };
    }
  }
  for (const plan of plans.filter((p) => !simple.includes(p))) {
    const { byProbe } = await countStuckByProbe(db, plan, { sampleSize: 0 });
    const entry: StuckOfStatus = { count: 0, oldestSinceMs: null };
    for (const { count, oldestSince } of byProbe.values()) {
      entry.count += count;
      if (oldestSince !== null) entry.oldestSinceMs = Math.min(entry.oldestSinceMs ?? Infinity, oldestSince.getTime());
    }
    byStatus[plan.statusName] = entry;
  }
  return byStatus;
}
