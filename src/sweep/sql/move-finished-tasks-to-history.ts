// moveFinishedTasksToHistory — one batch of one move-to-history status, as one statement.
//
// In:   see BatchInput (revert-stuck-tasks.ts): an archivable status, the thresholds to act on.
// Locks: up to `limit` stuck rows, FOR UPDATE SKIP LOCKED (stuck-workspaces.ts: candidatesCte).
// Does: location -> HISTORY, moved_to_history_at = now(), warning + warning_reason; status is
//       unchanged. One MOVED_TO_HISTORY task_events row per task ({releasedBy} when released).
// Out:  one row: how many, how many released, and the first few task ids.
import type { Queries } from "../../platform/db/client.js";
import { eventsAndOutcome, singleOutcome, thresholdText, type BatchInput, type BatchOutcome } from "./revert-stuck-tasks.js";
import { candidatesCte, stuckWorkspacesCtes } from "./stuck-workspaces.js";

export async function moveFinishedTasksToHistory(db: Queries, input: BatchInput): Promise<BatchOutcome[]> {
  const { plan, thresholds, limit, sweepId } = input;
  if (plan.action.kind !== "moveToHistory") throw new TypeError(`moveFinishedTasksToHistory: the rule for ${plan.statusName} does not move to history`);
  const releasedProbes = [...(input.release?.probes ?? [])];
  const rows = await db.$queryRaw<{ count: number; released: number; sample_ids: number[] | null }[]>`
    WITH RECURSIVE ${stuckWorkspacesCtes(plan.status, thresholds, plan.minSeconds)},
    ${candidatesCte(plan.status, thresholds, limit, input.asOf)},
    updated AS (
      UPDATE tasks t
      SET location = 'HISTORY',
          moved_to_history_at = now(),
          warning = true,
          warning_reason = 'stuck in ' || ${plan.statusName}::text || ' for '
            || watchdog_humanize_seconds(floor(extract(epoch FROM now() - c.status_changed_at))::bigint)
            || ' (threshold ' || ${thresholdText(thresholds)} || '); moved to history'
      FROM candidates c
      -- No compare-and-set on status or location: the row is locked (candidates, FOR UPDATE), and
      -- the lock's re-check already left out a row that moved on since the snapshot.
      WHERE t.id = c.id
      RETURNING t.id, t.organization_id, t.workspace_id, t.external_id, t.status, c.status_changed_at AS stuck_since, t.warning_reason, c.probe = ANY(${releasedProbes}::int[]) AS released
    ), ${eventsAndOutcome("MOVED_TO_HISTORY", sweepId, input.release?.by ?? null)}`;
  return singleOutcome(rows);
}
