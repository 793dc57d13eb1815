// moveFinishedTasksToHistory — one batch of one move-to-history probe, as one statement.
//
// In:   probe (an archivable status, threshold, workspaces), batch size, sweep id.
// Locks: up to `limit` matching rows, oldest first, FOR UPDATE SKIP LOCKED (see revertStuckTasks).
// Does: location -> HISTORY, moved_to_history_at = now(), warning + warning_reason; status is
//       unchanged. One MOVED_TO_HISTORY task_events row per task.
// Out:  one row: how many, and the first few task ids.
import type { Probe } from "../../domain/rules.js";
import { formatDuration } from "../../domain/duration.js";
import type { Db } from "../client.js";
import { stuckWhere } from "./stuck-candidates.js";
import type { BatchOutcome } from "./revert-stuck-tasks.js";

export async function moveFinishedTasksToHistory(db: Db, probe: Probe, limit: number, sweepId: string): Promise<BatchOutcome[]> {
  if (probe.action.kind !== "moveToHistory") throw new TypeError(`moveFinishedTasksToHistory: probe for ${probe.statusName} does not move to history`);
  const reasonHead = `stuck in ${probe.statusName} for `;
  const reasonTail = ` (threshold ${formatDuration(probe.stuckAfterSeconds)}); moved to history`;
  const rows = await db.$queryRaw<{ count: number; sample_ids: number[] | null }[]>`
    WITH candidates AS (
      SELECT t.id, t.status, t.status_changed_at
      FROM tasks t
      WHERE ${stuckWhere(probe)}
      ORDER BY t.status_changed_at
      LIMIT ${limit}::int
      FOR UPDATE OF t SKIP LOCKED
    ), updated AS (
      UPDATE tasks t
      SET location = 'HISTORY',
          moved_to_history_at = now(),
          warning = true,
          warning_reason = ${reasonHead}
            || watchdog_humanize_seconds(floor(extract(epoch FROM now() - c.status_changed_at))::bigint) || ${reasonTail}
      FROM candidates c
      WHERE t.id = c.id AND t.status = c.status AND t.location = 'INBOX'   -- compare-and-set
      RETURNING t.id, t.status, c.status_changed_at AS stuck_since, t.warning_reason
    ), events AS (
      INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, sweep_id, stuck_since)
      SELECT u.id, 'MOVED_TO_HISTORY', u.status, NULL, u.warning_reason, 'watchdog', ${sweepId}, u.stuck_since
      FROM updated u
    )
    SELECT count(*)::int AS count, (array_agg(u.id ORDER BY u.id))[1:5] AS sample_ids FROM updated u`;
  const row = rows[0];
  return row && row.count > 0 ? [{ toStatus: null, count: row.count, sampleTaskIds: row.sample_ids ?? [] }] : [];
}
