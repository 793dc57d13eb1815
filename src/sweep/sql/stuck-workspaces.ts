// The shared part of every sweep statement: which inbox tasks of ONE status are stuck, each
// workspace judged by its own threshold, by the DATABASE clock.
//
// In:    the status, its thresholds as data (src/sweep/sweep-plan.ts: the rule's seconds for every
//        other workspace, one (workspace, seconds | off, probe) row per overridden workspace).
// Locks: none here; the batch statements lock what they take from `stuck_rows`.
// Does:  1. `oldest_ws`: a loose index scan of tasks_inbox_status_workspace_changed_at_idx, one
//           descent per workspace that has inbox tasks in the status, giving each one's oldest task.
//           A switched-off workspace costs that one descent, not its row count.
//        2. `stuck_ws`: the workspaces whose oldest task is older than their threshold, with the
//           threshold and the probe (rule or override) that applies there.
//        3. the caller ranges over each stuck workspace's stuck rows (status, workspace_id,
//           status_changed_at < now() - seconds): an index range that stops where the stuck rows end.
//        Nothing walks the rows of a workspace that is switched off or not yet stuck, and the cost
//        does not depend on how many overrides exist (they are a hash-joined array, not probes).
//        The scan runs only when the status's oldest inbox task is older than its shortest
//        threshold (one descent of tasks_inbox_status_changed_at_idx), so a quiet status costs one
//        descent. Seconds are bigint: no threshold can overflow the arithmetic.
import * as Prisma from "../../platform/db/sql.js";
import type { Thresholds } from "../sweep-plan.js";

/**
 * `WITH RECURSIVE` CTEs oldest_ws, thresholds, stuck_ws for one status (append more CTEs after a
 * comma). `suffix` names them apart when one statement holds several statuses.
 */
export function stuckWorkspacesCtes(status: number, t: Thresholds, minSeconds: number, suffix = ""): Prisma.Sql {
  const [oldestWs, thresholds, stuckWs] = ["oldest_ws", "thresholds", "stuck_ws"].map((name) => Prisma.raw(name + suffix)) as [Prisma.Sql, Prisma.Sql, Prisma.Sql];
  if (t.everyWorkspace) {
    // One row standing for every workspace: candidatesCte ranges over the status, not per workspace.
    return Prisma.sql`${stuckWs} AS (SELECT NULL::int AS workspace_id, ${t.defaultSeconds}::bigint AS seconds, ${t.defaultProbe}::int AS probe)`;
  }
  if (t.onlyListed) {
    // The workspaces a count just found stuck: no need to look for them again.
    return Prisma.sql`${stuckWs} AS (
      SELECT * FROM unnest(${[...t.workspaceIds]}::int[], ${[...t.seconds]}::bigint[], ${[...t.probeOf]}::int[]) AS s(workspace_id, seconds, probe)
      WHERE s.seconds IS NOT NULL
    )`;
  }
  return Prisma.sql`${oldestWs} AS (
      (SELECT t.workspace_id, t.status_changed_at AS oldest
       FROM tasks t
       WHERE t.location = 'INBOX' AND t.status = ${status}::smallint
         AND (SELECT o.status_changed_at FROM tasks o WHERE o.location = 'INBOX' AND o.status = ${status}::smallint
              ORDER BY o.status_changed_at LIMIT 1) < now() - ${minSeconds}::bigint * interval '1 second'
       ORDER BY t.workspace_id, t.status_changed_at LIMIT 1)
      UNION ALL
      SELECT n.workspace_id, n.oldest
      FROM ${oldestWs} w
      CROSS JOIN LATERAL (
        SELECT t.workspace_id, t.status_changed_at AS oldest
        FROM tasks t
        WHERE t.location = 'INBOX' AND t.status = ${status}::smallint AND t.workspace_id > w.workspace_id
        ORDER BY t.workspace_id, t.status_changed_at LIMIT 1
      ) n
    ), ${thresholds} AS (
      SELECT * FROM unnest(${[...t.workspaceIds]}::int[], ${[...t.seconds]}::bigint[], ${[...t.probeOf]}::int[]) AS th(workspace_id, seconds, probe)
    ), ${stuckWs} AS (
      SELECT w.workspace_id, j.seconds, j.probe
      FROM ${oldestWs} w
      LEFT JOIN ${thresholds} th ON th.workspace_id = w.workspace_id
      CROSS JOIN LATERAL (SELECT CASE WHEN th.workspace_id IS NULL THEN ${t.defaultSeconds}::bigint ELSE th.seconds END AS seconds,
                                 CASE WHEN th.workspace_id IS NULL THEN ${t.defaultProbe}::int ELSE th.probe END AS probe) j
      WHERE j.seconds IS NOT NULL AND w.oldest < now() - j.seconds * interval '1 second'
    )`;
}

/**
 * The time a task's age is judged at: the statement's `now()`, or `asOf` — in a sweep's batches, the
 * database time of the count its holds judged, so that the sweep acts only on tasks that were stuck
 * when it looked (docs/safety.md, "Level hold"). A Date has milliseconds: `asOf` is the count's time
 * rounded down, never after it.
 */
const judgedAt = (asOf: Date | null) => (asOf === null ? Prisma.sql`now()` : Prisma.sql`${asOf}::timestamptz`);

/**
 * The stuck rows of one stuck workspace `sw` (alias `c`), oldest first, stuck as of `asOf` (null:
 * now); `extra` narrows them further. With `everyWorkspaceSeconds`, those of every workspace, the
 * threshold a value the planner sees (as in a hand-written statement), so it estimates how many rows
 * are stuck and picks the range.
 */
export function stuckRowsOf(status: number, extra: Prisma.Sql = Prisma.empty, everyWorkspaceSeconds: number | null = null, asOf: Date | null = null): Prisma.Sql {
  if (everyWorkspaceSeconds !== null) {
    return Prisma.sql`tasks c
        WHERE c.location = 'INBOX' AND c.status = ${status}::smallint
          AND c.status_changed_at < ${judgedAt(asOf)} - ${everyWorkspaceSeconds}::bigint * interval '1 second' ${extra}`;
  }
  return Prisma.sql`tasks c
        WHERE c.location = 'INBOX' AND c.status = ${status}::smallint AND c.workspace_id = sw.workspace_id
          AND c.status_changed_at < ${judgedAt(asOf)} - sw.seconds * interval '1 second' ${extra}`;
}

/** Report-only rules act once per stuck episode: not yet flagged since the status last changed. */
export const notFlaggedThisEpisode = Prisma.sql`AND c.flagged_episode IS DISTINCT FROM c.status_changed_at`;

/**
 * Whether a pause of `status` (or of every rule) is in force, by this statement's snapshot: one probe
 * of the small partial index sweep_pauses_open_scope_key. Every batch asks it inside its own
 * statement, so no batch starts acting after a pause has committed (docs/safety.md, "Pause").
 */
export const pausedNow = (status: number) => Prisma.sql`EXISTS (
        SELECT 1 FROM sweep_pauses p
        WHERE p.ended_at IS NULL AND COALESCE(p.status, -1) IN (-1, ${status}::int)
          AND (p.expires_at IS NULL OR p.expires_at > now()))`;

/**
 * CTE `candidates`: up to `limit` stuck rows of the status, locked FOR UPDATE SKIP LOCKED (a row
 * another sweep or the platform holds is skipped, and the scan goes on past it). Workspace by
 * workspace, oldest first within each: one index range per stuck workspace, pulled lazily, so the
 * outer LIMIT stops the scans (and the locking) as soon as the batch is full. Locking re-checks the
 * row's newest version against the range's conditions, so a task that moved on (or moved and came
 * back: a new episode, younger than the threshold) since the snapshot is left alone. Nothing is
 * taken while a pause of the status (or of every rule) is in force (pausedNow). With `everyWorkspace`
 * thresholds, one range over the status instead (tasks_inbox_status_changed_at_idx). With `asOf`,
 * only rows that were stuck at that time (a sweep's count): a row stuck since waits for the next sweep.
 * Columns: id, status, previous_status, status_changed_at, auto_revert_count, probe, threshold_seconds.
 */
export function candidatesCte(status: number, thresholds: Thresholds, limit: number, asOf: Date | null, extra: Prisma.Sql = Prisma.empty): Prisma.Sql {
  return Prisma.sql`candidates AS (
      SELECT o.id, o.status, o.previous_status, o.status_changed_at, o.auto_revert_count, sw.probe, sw.seconds AS threshold_seconds
      FROM stuck_ws sw
      CROSS JOIN LATERAL (
        SELECT c.id, c.status, c.previous_status, c.status_changed_at, c.auto_revert_count
        FROM ${stuckRowsOf(status, extra, thresholds.everyWorkspace ? thresholds.defaultSeconds : null, asOf)}
        ORDER BY c.status_changed_at LIMIT ${limit}::int
        FOR UPDATE OF c SKIP LOCKED
      ) o
      WHERE NOT ${pausedNow(status)}
      LIMIT ${limit}::int
    )`;
}
