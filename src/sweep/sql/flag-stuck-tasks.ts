// flagStuckTasks — one batch of one report-only status (action "flag"), as one statement.
//
// In:   see BatchInput (revert-stuck-tasks.ts).
// Locks: up to `limit` stuck rows not yet flagged in this episode, FOR UPDATE SKIP LOCKED.
// Does: warning + warning_reason, flagged_episode = status_changed_at (the episode is flagged;
//       a status change starts a new one); status and location are unchanged, so the trigger
//       leaves status_changed_at alone. One FLAGGED task_events row per task and episode.
// Out:  one row: how many, how many released, and the first few task ids.
// Cost: the stuck rows already flagged are walked (index only) by every sweep while they stay
//       stuck: a report-only rule costs what its stuck tasks cost, like any other rule.
import type { Queries } from "../../platform/db/client.js";
import { eventsAndOutcome, singleOutcome, thresholdText, type BatchInput, type BatchOutcome } from "./revert-stuck-tasks.js";
import { candidatesCte, notFlaggedThisEpisode, stuckWorkspacesCtes } from "./stuck-workspaces.js";

export async function flagStuckTasks(db: Queries, input: BatchInput): Promise<BatchOutcome[]> {
  const { plan, thresholds, limit, sweepId } = input;
  if (plan.action.kind !== "flag") throw new TypeError(`flagStuckTasks: the rule for ${plan.statusName} is not report-only`);
  const releasedProbes = [...(input.release?.probes ?? [])];
  const rows = await db.$queryRaw<{ count: number; released: number; sample_ids: number[] | null }[]>`
    WITH RECURSIVE ${stuckWorkspacesCtes(plan.status, thresholds, plan.minSeconds)},
    ${candidatesCte(plan.status, thresholds, limit, input.asOf, notFlaggedThisEpisode)},
    updated AS (
      UPDATE tasks t
      SET warning = true,
          flagged_episode = t.status_changed_at,
          warning_reason = 'stuck in ' || ${plan.statusName}::text || ' for '
            || watchdog_humanize_seconds(floor(extract(epoch FROM now() - c.status_changed_at))::bigint)
            || ' (threshold ' || ${thresholdText(thresholds)} || '); flagged only (report-only rule), status unchanged'
      FROM candidates c
      WHERE t.id = c.id AND t.status = c.status AND t.location = 'INBOX' AND t.status_changed_at = c.status_changed_at
        AND t.flagged_episode IS DISTINCT FROM t.status_changed_at   -- compare-and-set: once per episode
      RETURNING t.id, t.organization_id, t.workspace_id, t.external_id, t.status, c.status_changed_at AS stuck_since, t.warning_reason, c.probe = ANY(${releasedProbes}::int[]) AS released
    ), ${eventsAndOutcome("FLAGGED", sweepId, input.release?.by ?? null)}`;
  return singleOutcome(rows);
}
