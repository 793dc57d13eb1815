// reprocessTask — applies one reprocess request, exactly once, as one statement (its own transaction).
//
// In:    the target ({ taskId [, organizationId] } or { externalId, organizationId }), the
//        request id (unique per BullMQ job, stable across redeliveries of that job) and the actor.
// Locks: the task row, FOR UPDATE (waiting at most LOCK_TIMEOUT_MS of the connection, e.g. behind a
//        sweep batch; then the attempt fails and BullMQ retries it). Not taken when already applied.
// Does:  status -> QueuedForPreProcessing (30) with status_changed_at = now() (also when it already
//        was 30, so the sweep does not revert a fresh restart), restart_count + 1,
//        pre_processing_started_on = now(), edits = NULL, warning = false, warning_reason = NULL,
//        location -> INBOX (moved_to_history_at NULL), every assignment -> PENDING, and one
//        REPROCESSED task_events row whose `details` keep what was discarded (edits, warning,
//        assignment states) so support can recover them. original_payload is never written: it is
//        what the pipeline re-reads.
// Out:   notFound; applied; or alreadyApplied with the result the first delivery committed.
//
// Exactly once: the request's event is looked up first, by request id alone, so a redelivery gets
// its result even if the task's external id changed since, without touching the task. Two
// deliveries running at the same moment both find no event (the statement's snapshot), the second
// waits for the first's row lock, and its INSERT then hits the unique index on
// task_events.request_id: the whole statement fails, nothing of it is applied, and the second
// delivery returns the first's committed result. A statement applies whole or not at all; when the
// connection drops while it runs, the attempt fails either way, and the retry finds the event (it had
// committed: the result is returned, nothing is applied again) or not (it is applied now).
//
// Why one statement and no explicit transaction: the same steps as four statements in an interactive
// transaction cost ~1.6x the CPU per request, and BEGIN/COMMIT around the one statement still ~1.3x
// (Prisma's transaction bookkeeping and the extra round trips): bench "reprocess" figures.
import { Prisma } from "../../generated/prisma/client.js";
import { describeTarget, type ReprocessTarget } from "../../domain/reprocess-request.js";
import { STATUS_NAMES_JSON, TaskStatus } from "../../domain/status.js";
import type { Db } from "../client.js";

export type ReprocessOutcome =
  | { kind: "notFound"; message: string }
  | { kind: "applied" | "alreadyApplied"; taskId: number; restartCount: number; status: number; fromStatus: number };

const TO_STATUS = TaskStatus.QueuedForPreProcessing;

interface OutcomeRow {
  kind: "applied" | "alreadyApplied";
  task_id: number;
  restart_count: number;
  status: number;
  from_status: number;
}

const toOutcome = (row: OutcomeRow): ReprocessOutcome => ({ kind: row.kind, taskId: row.task_id, restartCount: row.restart_count, status: row.status, fromStatus: row.from_status });

export async function reprocessTask(db: Db, target: ReprocessTarget, request: { requestId: string; actor: string }): Promise<ReprocessOutcome> {
  const where =
    "taskId" in target
      ? Prisma.sql`t.id = ${target.taskId}::int${target.organizationId === undefined ? Prisma.empty : Prisma.sql` AND t.organization_id = ${target.organizationId}::int`}`
      : Prisma.sql`t.organization_id = ${target.organizationId}::int AND t.external_id = ${target.externalId}::text`;
  const done = Prisma.sql`
    SELECT 'alreadyApplied' AS kind, e.task_id, (e.details ->> 'restartCount')::int AS restart_count, e.to_status::int AS status, e.from_status::int AS from_status
    FROM task_events e WHERE e.request_id = ${request.requestId}`;

  let rows: OutcomeRow[];
  try {
    // One statement, so one transaction of its own (autocommit): see "Exactly once" above.
    rows = await db.$queryRaw<OutcomeRow[]>`
        WITH done AS (${done}
        ), task AS (
          SELECT t.id, t.status, t.location, t.edits, t.warning, t.warning_reason
          FROM tasks t WHERE ${where} AND NOT EXISTS (SELECT 1 FROM done)
          FOR UPDATE OF t
        ), assignments_before AS (
          SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'userId', a.user_id, 'position', a.position, 'status', a.status)
                                    ORDER BY a.position, a.id), '[]'::jsonb) AS list
          FROM task_assignments a WHERE a.task_id = (SELECT id FROM task)
        ), reset_assignments AS (
          UPDATE task_assignments SET status = 'PENDING', updated_at = now()
          WHERE task_id = (SELECT id FROM task) AND status <> 'PENDING'
        ), updated AS (
          UPDATE tasks t
          SET status = ${TO_STATUS}::smallint,
              status_changed_at = now(),
              restart_count = t.restart_count + 1,
              pre_processing_started_on = now(),
              edits = NULL,
              warning = false,
              warning_reason = NULL,
              location = 'INBOX',
              moved_to_history_at = NULL
          FROM task b
          WHERE t.id = b.id
          RETURNING t.id, t.restart_count, t.status
        ), event AS (
          INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, request_id, details)
          SELECT u.id, 'REPROCESSED', b.status, u.status,
                 'reprocess requested by ' || ${request.actor}::text || ': ' || (${STATUS_NAMES_JSON}::jsonb ->> b.status::text)
                   || CASE WHEN b.location = 'HISTORY' THEN ' (in history)' ELSE '' END
                   || ' -> ' || (${STATUS_NAMES_JSON}::jsonb ->> u.status::text) || ', edits discarded',
                 ${request.actor}, ${request.requestId},
                 jsonb_build_object('restartCount', u.restart_count, 'fromLocation', b.location,
                                    'discardedEdits', b.edits, 'discardedWarning', b.warning,
                                    'discardedWarningReason', b.warning_reason, 'assignmentsBefore', ab.list)
          FROM updated u, task b, assignments_before ab
        )
        SELECT 'applied' AS kind, u.id AS task_id, u.restart_count, u.status::int AS status, b.status::int AS from_status
        FROM updated u, task b
        UNION ALL
        SELECT * FROM done`;
  } catch (error) {
    // Another delivery of this request committed while we waited for the row: return its result.
    const [first] = await db.$queryRaw<OutcomeRow[]>(done);
    if (first) return toOutcome(first);
    throw error;
  }
  const row = rows[0];
  return row ? toOutcome(row) : { kind: "notFound", message: `NotFound: no ${describeTarget(target)}` };
}
