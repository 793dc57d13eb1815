// revertStuckTasks — one batch of one revert probe, as one statement (so one transaction).
//
// In:   probe (status, threshold, workspaces, target), batch size, sweep id.
// Locks: up to `limit` matching task rows, oldest first, FOR UPDATE SKIP LOCKED: a row another
//        sweep (or the platform) holds is skipped, and a row whose status changed since the
//        snapshot fails the re-check and is left alone.
// Does: status -> target (previous_status instead, when the rule allows and it is stable),
//       warning + warning_reason, auto_revert_count + 1 (the trigger stamps status_changed_at and
//       previous_status), and one AUTO_REVERTED task_events row per task.
// Out:  one row per target status: how many, and the first few task ids.
import { Prisma } from "../../generated/prisma/client.js";
import type { Probe } from "../../domain/rules.js";
import { STABLE_STATUS_CODES, STATUS_NAMES_JSON } from "../../domain/status.js";
import { formatDuration } from "../../domain/duration.js";
import type { Db } from "../client.js";
import { stuckWhere } from "./stuck-candidates.js";


export interface BatchOutcome {
  toStatus: number | null;
  count: number;
  sampleTaskIds: number[];
}

export async function revertStuckTasks(db: Db, probe: Probe, limit: number, sweepId: string): Promise<BatchOutcome[]> {
  if (probe.action.kind !== "revert") throw new TypeError(`revertStuckTasks: probe for ${probe.statusName} does not revert`);
  const { to, toPreviousIfStable } = probe.action;
  const reasonHead = `stuck in ${probe.statusName} for `;
  const reasonMid = ` (threshold ${formatDuration(probe.stuckAfterSeconds)}); reverted to `;
  const rows = await db.$queryRaw<{ to_status: number; count: number; sample_ids: number[] }[]>`
    WITH candidates AS (
      SELECT t.id, t.status, t.previous_status, t.status_changed_at
      FROM tasks t
      WHERE ${stuckWhere(probe)}
      ORDER BY t.status_changed_at
      LIMIT ${limit}::int
      FOR UPDATE OF t SKIP LOCKED
    ), planned AS (
      SELECT c.id, c.status, c.status_changed_at,
             CASE WHEN ${toPreviousIfStable}::boolean AND c.previous_status = ANY(${[...STABLE_STATUS_CODES]}::smallint[])
                  THEN c.previous_status ELSE ${to}::smallint END AS to_status,
             watchdog_humanize_seconds(floor(extract(epoch FROM now() - c.status_changed_at))::bigint) AS stuck_for
      FROM candidates c
    ), updated AS (
      UPDATE tasks t
      SET status = p.to_status,
          warning = true,
          warning_reason = ${reasonHead} || p.stuck_for || ${reasonMid} || (${STATUS_NAMES_JSON}::jsonb ->> p.to_status::text),
          auto_revert_count = t.auto_revert_count + 1
      FROM planned p
      WHERE t.id = p.id AND t.status = p.status   -- compare-and-set, on a row we hold
      RETURNING t.id, p.status AS from_status, p.to_status, p.status_changed_at AS stuck_since, t.warning_reason
    ), events AS (
      INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, sweep_id, stuck_since)
      SELECT u.id, 'AUTO_REVERTED', u.from_status, u.to_status, u.warning_reason, 'watchdog', ${sweepId}, u.stuck_since
      FROM updated u
    )
    SELECT u.to_status::int AS to_status, count(*)::int AS count, (array_agg(u.id ORDER BY u.id))[1:5] AS sample_ids
    FROM updated u
    GROUP BY u.to_status`;
  return rows.map((r) => ({ toStatus: r.to_status, count: r.count, sampleTaskIds: r.sample_ids }));
}
