// revertStuckTasks — one batch of one revert status, as one statement (so one transaction).
//
// In:   the status plan with the thresholds to act on (the stuck workspaces, held probes' left out), batch
//       size, sweep id, the probes released by an operator (and by whom), the escalation count.
// Locks: up to `limit` stuck task rows, FOR UPDATE SKIP LOCKED (stuck-workspaces.ts: candidatesCte);
//        a row whose status changed since the snapshot fails the re-check and is left alone. The
//        status's row of the current minute in status_revert_counts (an upsert: replicas' batches of
//        one status queue there briefly, at their very end).
// Does: status -> target (previous_status instead, when the rule allows and it is stable),
//       warning + warning_reason, auto_revert_count + 1 (the trigger stamps status_changed_at and
//       previous_status), and one AUTO_REVERTED task_events row per task. The revert that makes
//       auto_revert_count reach `escalateAfter` (and every later one) says "stuck again for the Nth
//       time …; needs support" and its event's details carry {escalated: true, revertCount};
//       a released probe's events carry {releasedBy}. Adds the batch's count to the status's current
//       minute in status_revert_counts (the rate hold's history, shared by every replica) and deletes
//       that status's minutes older than its rate window + baseline.
// Out:  one row per target status: how many, how many escalated, how many released, a few ids.
import * as Prisma from "../../platform/db/sql.js";
import type { StatusPlan, Thresholds } from "../sweep-plan.js";
import { STABLE_STATUS_CODES, STATUS_NAMES_BY_CODE } from "../../rules/status.js";
import { formatDuration } from "../../rules/duration.js";
import { DEFAULT_RATE_HOLD } from "../../rules/rules.js";
import type { Queries } from "../../platform/db/client.js";
import { candidatesCte, stuckWorkspacesCtes } from "./stuck-workspaces.js";

export interface BatchOutcome {
  toStatus: number | null;
  count: number;
  /** Reverts that reached the escalation count (0 for other actions). */
  escalated: number;
  /** Tasks of probes an operator released from their hold. */
  released: number;
  sampleTaskIds: number[];
}

export interface BatchInput {
  plan: StatusPlan;
  /** The thresholds to act on: in a sweep, the stuck workspaces its count found, held probes' left out (listedThresholds). */
  thresholds: Thresholds;
  limit: number;
  /**
   * Act only on tasks stuck at this time: the database time of the count the sweep's holds judged
   * (countStuckByProbe's `asOf`). A task stuck since — an outage beginning while the batches run, or
   * after another replica's overlapping sweep counted — waits for the next sweep, which judges it.
   * Null: each batch's own now().
   */
  asOf: Date | null;
  sweepId: string;
  /** Probe indexes acting despite their hold, and the operator who said so. */
  release?: { probes: readonly number[]; by: string };
}

/** The threshold as words: one value for every row when one threshold applies to all (formatDuration mirrors the SQL function; a test compares them). */
export const thresholdText = (t: Thresholds) =>
  t.everyWorkspace && t.defaultSeconds !== null ? Prisma.sql`${formatDuration(t.defaultSeconds)}::text` : Prisma.sql`watchdog_humanize_seconds(c.threshold_seconds)`;

/** "st", "nd", "rd", "th" for a count in SQL: the 3rd, the 11th, the 22nd. */
const ordinalSuffix = (n: Prisma.Sql) =>
  Prisma.sql`CASE WHEN ${n} % 100 IN (11, 12, 13) THEN 'th' WHEN ${n} % 10 = 1 THEN 'st' WHEN ${n} % 10 = 2 THEN 'nd' WHEN ${n} % 10 = 3 THEN 'rd' ELSE 'th' END`;

export async function revertStuckTasks(db: Queries, input: BatchInput & { escalateAfter: number }): Promise<BatchOutcome[]> {
  const { plan, thresholds, limit, sweepId, escalateAfter } = input;
  if (plan.action.kind !== "revert") throw new TypeError(`revertStuckTasks: the rule for ${plan.statusName} does not revert`);
  const { to, toPreviousIfStable } = plan.action;
  const releasedProbes = [...(input.release?.probes ?? [])];
  const releasedBy = input.release?.by ?? null;
  // The rate hold's history: what its window and baseline need (the defaults' when it is off, should it be switched on).
  const rate = plan.rateHold ?? DEFAULT_RATE_HOLD;
  const keepSeconds = rate.windowSeconds + rate.baselineSeconds + 60;
  const rows = await db.$queryRaw<{ to_status: number; count: number; escalated: number; released: number; sample_ids: number[] }[]>`
    WITH RECURSIVE ${stuckWorkspacesCtes(plan.status, thresholds, plan.minSeconds)},
    ${candidatesCte(plan.status, thresholds, limit, input.asOf)},
    planned AS (
      SELECT c.id, c.status, c.status_changed_at, c.auto_revert_count + 1 AS revert_count,
             c.auto_revert_count + 1 >= ${escalateAfter}::int AS escalated,
             c.probe = ANY(${releasedProbes}::int[]) AS released,
             CASE WHEN ${toPreviousIfStable}::boolean AND c.previous_status = ANY(${[...STABLE_STATUS_CODES]}::smallint[])
                  THEN c.previous_status ELSE ${to}::smallint END AS to_status,
             watchdog_humanize_seconds(floor(extract(epoch FROM now() - c.status_changed_at))::bigint) AS stuck_for,
             ${thresholdText(thresholds)} AS threshold
      FROM candidates c
    ), updated AS (
      UPDATE tasks t
      SET status = p.to_status,
          warning = true,
          warning_reason = CASE WHEN p.escalated
            THEN 'stuck again for the ' || p.revert_count || ${ordinalSuffix(Prisma.sql`p.revert_count`)} || ' time: in ' || ${plan.statusName}::text
                 || ' for ' || p.stuck_for || ' (threshold ' || p.threshold || '); reverted to ' || (${[...STATUS_NAMES_BY_CODE]}::text[])[p.to_status]
                 || '; needs support'
            ELSE 'stuck in ' || ${plan.statusName}::text || ' for ' || p.stuck_for || ' (threshold ' || p.threshold || '); reverted to '
                 || (${[...STATUS_NAMES_BY_CODE]}::text[])[p.to_status] END,
          auto_revert_count = t.auto_revert_count + 1
      FROM planned p
      -- No compare-and-set on the status here: the row is locked (candidates, FOR UPDATE), and the
      -- lock's re-check already left out a row whose status or episode changed since the snapshot.
      WHERE t.id = p.id
      RETURNING t.id, t.organization_id, t.workspace_id, t.external_id, p.status AS from_status, p.to_status, p.status_changed_at AS stuck_since, t.warning_reason,
                p.escalated, p.revert_count, p.released
    ), events AS (
      INSERT INTO task_events (task_id, organization_id, workspace_id, external_id, kind, from_status, to_status, reason, actor, sweep_id, stuck_since, details)
      SELECT u.id, u.organization_id, u.workspace_id, u.external_id, 'AUTO_REVERTED', u.from_status, u.to_status, u.warning_reason, 'watchdog', ${sweepId}, u.stuck_since,
             -- Most rows have no details: no JSON is built for them.
             CASE WHEN u.escalated OR u.released THEN jsonb_strip_nulls(jsonb_build_object(
               'escalated', CASE WHEN u.escalated THEN true END,
               'revertCount', CASE WHEN u.escalated THEN u.revert_count END,
               'releasedBy', CASE WHEN u.released THEN ${releasedBy}::text END)) END
      FROM updated u
    ), counted AS (
      INSERT INTO status_revert_counts (status, minute, reverts)
      SELECT ${plan.status}::smallint, date_trunc('minute', now()), count(*)::int FROM updated HAVING count(*) > 0
      ON CONFLICT (status, minute) DO UPDATE SET reverts = status_revert_counts.reverts + EXCLUDED.reverts
    ), pruned AS (
      DELETE FROM status_revert_counts
      WHERE status = ${plan.status}::smallint AND minute < now() - ${keepSeconds}::int * interval '1 second'
    )
    SELECT u.to_status::int AS to_status, count(*)::int AS count,
           count(*) FILTER (WHERE u.escalated)::int AS escalated, count(*) FILTER (WHERE u.released)::int AS released,
           (array_agg(u.id ORDER BY u.id))[1:5] AS sample_ids
    FROM updated u
    GROUP BY u.to_status`;
  return rows.map((r) => ({ toStatus: r.to_status, count: r.count, escalated: r.escalated, released: r.released, sampleTaskIds: r.sample_ids }));
}

/**
 * The tail shared by the batch statements that leave the status alone (flag, move to history): one
 * task_events row of `kind` per row of CTE `updated` (id, organization_id, workspace_id,
 * external_id, status, stuck_since, warning_reason, released), and one result row: how many, how many released, the first few ids.
 */
export function eventsAndOutcome(kind: "FLAGGED" | "MOVED_TO_HISTORY", sweepId: string, releasedBy: string | null): Prisma.Sql {
  return Prisma.sql`events AS (
      INSERT INTO task_events (task_id, organization_id, workspace_id, external_id, kind, from_status, to_status, reason, actor, sweep_id, stuck_since, details)
      SELECT u.id, u.organization_id, u.workspace_id, u.external_id, ${kind}::task_event_kind, u.status, NULL, u.warning_reason, 'watchdog', ${sweepId}, u.stuck_since,
             CASE WHEN u.released THEN jsonb_build_object('releasedBy', ${releasedBy}::text) END
      FROM updated u
    )
    SELECT count(*)::int AS count, count(*) FILTER (WHERE u.released)::int AS released,
           (array_agg(u.id ORDER BY u.id))[1:5] AS sample_ids FROM updated u`;
}

/** The one outcome of such a statement, or none when it touched nothing. */
export function singleOutcome(rows: readonly { count: number; released: number; sample_ids: number[] | null }[]): BatchOutcome[] {
  const row = rows[0];
  return row && row.count > 0 ? [{ toStatus: null, count: row.count, escalated: 0, released: row.released, sampleTaskIds: row.sample_ids ?? [] }] : [];
}
