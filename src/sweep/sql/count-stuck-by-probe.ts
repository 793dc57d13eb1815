// countStuckByProbe — read-only: per probe (a rule, or one of its workspace overrides) of ONE
// status, how many tasks it would act on right now, since when the oldest has waited, a few ids (oldest first).
// countInboxPopulation — the status's inbox tasks (the base of a hold's maxShare).
//
// In:    the status plan, whether report-only rules' already-flagged tasks count, sample size, and
//        `stopAt`: counting stops there (the sweep's level hold needs to know "more than the limit",
//        not how many more: it passes its largest limit + 1); null counts every stuck task.
// Locks: none, no writes. Used before acting (the hold), by dry runs, `watchdog stuck` and the
//        stuck-tasks gauge.
// Does:  stuck-workspaces.ts (one index descent per workspace with inbox tasks in the status), then
//        an index range per stuck workspace over its stuck rows, oldest first. Every stuck row is read
//        (counted, and ordered for the sample) unless `stopAt` is given: then at most that many rows per
//        stuck workspace (a probe's count is then at most `stopAt`). (The stuck gauges count a status
//        without overrides more cheaply, and once per interval for the deployment:
//        count-stuck-for-gauges.ts.) The population is an index-only count of the status's inbox rows.
// Out:   one entry per probe index that has stuck tasks, and the time the ages were judged at
//        (the statement's now(): a sweep's batches then act on what was stuck at that time).
import * as Prisma from "../../platform/db/sql.js";
import type { StatusPlan } from "../sweep-plan.js";
import type { Db } from "../../platform/db/client.js";
import { notFlaggedThisEpisode, stuckRowsOf, stuckWorkspacesCtes } from "./stuck-workspaces.js";

export interface StuckCount {
  count: number;
  oldestSince: Date | null;
  sampleTaskIds: number[];
}

export interface StuckByProbe {
  /** Keyed by the probe's index in plan.probes. */
  byProbe: Map<number, StuckCount>;
  /** The workspaces with stuck tasks, with the threshold and probe that apply there. */
  workspaces: { workspaceId: number; seconds: number; probe: number }[];
  /** The database time the count judged ages at (its now(), to the millisecond, rounded down); null when nothing is stuck. */
  asOf: Date | null;
}

export async function countInboxPopulation(db: Db, status: number): Promise<number> {
  const rows = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM tasks t WHERE t.location = 'INBOX' AND t.status = ${status}::smallint`;
  return rows[0]?.n ?? 0;
}

export async function countStuckByProbe(db: Db, plan: StatusPlan, options: { sampleSize?: number; onlyUnflagged?: boolean; stopAt?: number | null } = {}): Promise<StuckByProbe> {
  const sampleSize = options.sampleSize ?? 5;
  const stopAt = options.stopAt ?? null;
  const extra = options.onlyUnflagged ? notFlaggedThisEpisode : Prisma.empty;
  const rows = await db.$queryRaw<{ probe: number; count: number; oldest: Date | null; sample_ids: number[] | null; workspaces: { workspace_id: number; seconds: number }[]; as_of: Date }[]>`
    WITH RECURSIVE ${stuckWorkspacesCtes(plan.status, plan.thresholds, plan.minSeconds)},
    per_ws AS (
      SELECT sw.workspace_id, sw.seconds, sw.probe, x.count, x.oldest, x.sample_ids
      FROM stuck_ws sw
      CROSS JOIN LATERAL (
        SELECT count(*)::int AS count, min(r.status_changed_at) AS oldest,
               (array_agg(r.id ORDER BY r.status_changed_at, r.id))[1:${sampleSize}::int] AS sample_ids
        FROM (SELECT c.id, c.status_changed_at FROM ${stuckRowsOf(plan.status, extra)}
              ORDER BY c.status_changed_at LIMIT ${stopAt}::int) r
      ) x
      WHERE x.count > 0
    ), per_probe AS (
      SELECT p.probe, sum(p.count)::int AS count, min(p.oldest) AS oldest,
             ARRAY(SELECT s.id FROM per_ws q CROSS JOIN LATERAL unnest(q.sample_ids) WITH ORDINALITY AS s(id, n)
                   WHERE q.probe = p.probe ORDER BY q.oldest, s.n LIMIT ${sampleSize}::int) AS sample_ids,
             jsonb_agg(jsonb_build_object('workspace_id', p.workspace_id, 'seconds', p.seconds)) AS workspaces
      FROM per_ws p
      GROUP BY p.probe
    )
    SELECT pp.probe, pp.count, pp.oldest, pp.sample_ids, pp.workspaces, now() AS as_of FROM per_probe pp`;
  const byProbe = new Map<number, StuckCount>();
  const workspaces: StuckByProbe["workspaces"] = [];
  for (const r of rows) {
    byProbe.set(r.probe, { count: stopAt === null ? r.count : Math.min(r.count, stopAt), oldestSince: r.oldest, sampleTaskIds: r.sample_ids ?? [] });
    for (const w of r.workspaces) workspaces.push({ workspaceId: w.workspace_id, seconds: Number(w.seconds), probe: r.probe });
  }
  return { byProbe, workspaces, asOf: rows[0]?.as_of ?? null };
}
