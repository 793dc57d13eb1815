// moveFinishedTasksToHistory — one batch of one move-to-history status, as one statement.
//
// In:   see BatchInput (revert-stuck-tasks.ts): an archivable status, the thresholds to act on.
// Locks: up to `limit` stuck rows, FOR UPDATE SKIP LOCKED (stuck-workspaces.ts: candidatesCte).
// Does: location -> HISTORY, moved_to_history_at = now(), warning + warning_reason; status is
//       unchanged. One MOVED_TO_HISTORY task_events row per task ({releasedBy} when released).
// Out:  one row: how many, how many released, and the first few task ids.
import type { Db } from "../../platform/db/client.js";
import type { BatchInput, BatchOutcome } from "./revert-stuck-tasks.js";
import { candidatesCte, stuckWorkspacesCtes } from "./stuck-workspaces.js";

export async function moveFinishedTasksToHistory(db: Db, input: BatchInput): Promise<BatchOutcome[]> {
  const { plan, thresholds, limit, sweepId } = input;
  if (plan.action.kind !== "moveToHistory") throw new TypeError(`moveFinishedTasksToHistory: the rule for ${plan.statusName} does not move to history`);
  const releasedProbes = [...(input.release?.probes ?? [])];
  const rows = await db.$queryRaw<{ count: number; released: number; sample_ids: number[] | null }[]>`
    WITH RECURSIVE ${stuckWorkspacesCtes(plan.status, thresholds, plan.minSeconds)},
    ${candidatesCte(plan.status, limit)},
    updated AS (
      UPDATE tasks t
      SET location = 'HISTORY',
          moved_to_history_at = now(),
          warning = true,
          warning_reason = 'stuck in ' || ${plan.statusName}::text || ' for '
            || watchdog_humanize_seconds(floor(extract(epoch FROM now() - c.status_changed_at))::bigint)
            || ' (threshold ' || watchdog_humanize_seconds(c.threshold_seconds) || '); moved to history'
      FROM candidates c
      WHERE t.id = c.id AND t.status = c.status AND t.location = 'INBOX'   -- compare-and-set
      RETURNING t.id, t.status, c.status_changed_at AS stuck_since, t.warning_reason, c.probe = ANY(${releasedProbes}::int[]) AS released
    ), events AS (
      INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, sweep_id, stuck_since, details)
      SELECT u.id, 'MOVED_TO_HISTORY', u.status, NULL, u.warning_reason, 'watchdog', ${sweepId}, u.stuck_since,
             CASE WHEN u.released THEN jsonb_build_object('releasedBy', ${input.release?.by ?? null}::text) END
      FROM updated u
    )
    SELECT count(*)::int AS count, count(*) FILTER (WHERE u.released)::int AS released,
           (array_agg(u.id ORDER BY u.id))[1:5] AS sample_ids FROM updated u`;
  const row = rows[0];
  return row && row.count > 0 ? [{ toStatus: null, count: row.count, escalated: 0, released: row.released, sampleTaskIds: row.sample_ids ?? [] }] : [];
}
