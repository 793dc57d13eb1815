// reprocessTask — applies one reprocess request, exactly once, as one statement (its own transaction).
//
// In:    the target ({ taskId [, organizationId] } or { externalId, organizationId }), the
//        request id (unique per BullMQ job, stable across redeliveries of that job; a bulk's item:
//        `<bulkId>:<position>`), the actor, `force`, the HTTP request id and the bulk id (both
//        optional, into `details`) and the resolver's rows (src/rules/resolve.ts, thresholdRows). `db`
//        may be an open transaction (a bulk's slice): the statement is the same, it commits with the slice.
// Locks: the task row, FOR UPDATE (waiting at most LOCK_TIMEOUT_MS of the connection, e.g. behind a
//        sweep batch; then the attempt fails and BullMQ retries it). Not taken when already applied.
// Does:  status -> QueuedForPreProcessing (30) with status_changed_at = now() (also when it already
//        was 30, so the sweep does not revert a fresh restart), restart_count + 1,
//        pre_processing_started_on = now(), edits = NULL, warning = false, warning_reason = NULL,
//        location -> INBOX (moved_to_history_at NULL), every assignment -> PENDING, and one
//        REPROCESSED task_events row whose `details` keep what was discarded (edits, warning,
//        assignment states) so support can recover them. original_payload is never written: it is
//        what the pipeline re-reads.
// Guard: decided on the LOCKED row (its latest committed status and age), in this statement: a task
//        that is Deleting/Deleted, or in a transient status not past its threshold for its
//        workspace, is left untouched and comes back as `conflict` with what the guard saw —
//        unless `force`, and then the event says so (details.forced, details.guardOverridden, and
//        the reason starts "forced reprocess"). src/reprocess/reprocess-guard.ts is the same decision
//        in words; the worker asks it for the message.
// Out:   notFound; conflict; applied; or alreadyApplied with the result the first delivery committed.
//
// Exactly once: the request's event is looked up first, by request id alone, so a redelivery gets
// its result even if the task's external id changed since, without touching the task. Two
// deliveries running at the same moment both find no event (the statement's snapshot) and the
// second waits for the first's row lock. It then sees the row the first restarted: the guard
// refuses it (fresh in QueuedForPreProcessing), or, forced, its INSERT hits the unique index on
// task_events.request_id and the whole statement fails, nothing of it applied. Either way the
// request's event is looked up again, outside the statement's snapshot, and the second delivery
// returns the first's committed result. A statement applies whole or not at all; when the
// connection drops while it runs, the attempt fails either way, and the retry finds the event (it had
// committed: the result is returned, nothing is applied again) or not (it is applied now).
//
// Why one statement and no explicit transaction: the same steps as four statements in an interactive
// transaction cost ~1.6x the CPU per request, and BEGIN/COMMIT around the one statement still ~1.3x
// (Prisma's transaction bookkeeping and the extra round trips): bench "reprocess" figures.
import * as Prisma from "../../platform/db/sql.js";
import { describeTarget, type ReprocessTarget } from "../reprocess-request.js";
import { DELETION_STATUSES, GUARDED_TRANSIENT_STATUSES } from "../reprocess-guard.js";
import type { ThresholdRows } from "../../rules/resolve.js";
import { resolvedRowSql } from "../../rules/threshold-rows-sql.js";
import { STATUS_NAMES_JSON, TaskStatus } from "../../rules/status.js";
import { prepared, type Db } from "../../platform/db/client.js";

/** What one reprocess statement did (the HTTP endpoint's outcomes are ReprocessRequestOutcome, in ops/metrics.ts). */
export type ReprocessTaskOutcome =
  | { kind: "notFound"; message: string }
  | { kind: "conflict"; taskId: number; status: number; statusAgeSeconds: number; thresholdSeconds: number | null }
  | { kind: "applied" | "alreadyApplied"; taskId: number; restartCount: number; status: number; fromStatus: number; forced: boolean };

export interface ReprocessTaskRequest {
  requestId: string;
  actor: string;
  force: boolean;
  httpRequestId?: string;
  /** The bulk reprocess this request belongs to (details.bulkId), when it is one. */
  bulkId?: string;
  /** The resolver's rows (thresholdRows): the threshold of the task's status in its workspace, kept where the rule is off. */
  thresholds: ThresholdRows;
}

/** A client or an open interactive transaction: a bulk applies a slice of requests in one transaction. */
export type ReprocessDb = Pick<Db, "$queryRaw">;

const TO_STATUS = TaskStatus.QueuedForPreProcessing;

interface OutcomeRow {
  kind: "applied" | "alreadyApplied" | "conflict";
  task_id: number;
  restart_count: number | null;
  status: number;
  from_status: number;
  forced: boolean | null;
  age_seconds: number | null;
  threshold_seconds: number | null;
}

const toOutcome = (row: OutcomeRow): ReprocessTaskOutcome =>
  row.kind === "conflict"
    ? { kind: "conflict", taskId: row.task_id, status: row.status, statusAgeSeconds: row.age_seconds ?? 0, thresholdSeconds: row.threshold_seconds }
    : { kind: row.kind, taskId: row.task_id, restartCount: row.restart_count ?? 0, status: row.status, fromStatus: row.from_status, forced: row.forced === true };

/** A status's name in SQL; a code this version does not know (a newer platform's) reads "status N". */
const nameOf = (code: Prisma.Sql) => Prisma.sql`coalesce(${STATUS_NAMES_JSON}::jsonb ->> ${code}::text, 'status ' || ${code}::text)`;

/** The task the request names: by id (within its organization, when given), or by its organization's external id. */
function targetWhere(target: ReprocessTarget): Prisma.Sql {
  return "taskId" in target
    ? Prisma.sql`t.id = ${target.taskId}::int${target.organizationId === undefined ? Prisma.empty : Prisma.sql` AND t.organization_id = ${target.organizationId}::int`}`
    : Prisma.sql`t.organization_id = ${target.organizationId}::int AND t.external_id = ${target.externalId}::text`;
}

/** The request's own event, read as the outcome a delivery of it already committed (by request id alone). */
function alreadyApplied(requestId: string): Prisma.Sql {
  return Prisma.sql`
    SELECT 'alreadyApplied' AS kind, e.task_id, (e.details ->> 'restartCount')::int AS restart_count, e.to_status::int AS status, e.from_status::int AS from_status,
           coalesce((e.details ->> 'forced')::boolean, false) AS forced, NULL::float8 AS age_seconds, NULL::int AS threshold_seconds
    FROM task_events e WHERE e.request_id = ${requestId}`;
}

/** The one statement (Locks, Does, Guard and Out in the header): `done` first, then the locked row's verdict and the restart. */
function reprocessStatement(target: ReprocessTarget, request: ReprocessTaskRequest, done: Prisma.Sql): Prisma.Sql {
  const where = targetWhere(target);
  const { thresholds: g, force } = request;
  return Prisma.sql`
        WITH done AS (${done}
        ), locked AS (
          SELECT t.id, t.status, t.workspace_id, t.location, t.edits, t.warning, t.warning_reason,
                 extract(epoch FROM now() - t.status_changed_at)::float8 AS age_seconds
          FROM tasks t WHERE ${where} AND NOT EXISTS (SELECT 1 FROM done)
          FOR UPDATE OF t
        ), verdict AS (
          SELECT l.*, th.seconds::int AS threshold_seconds,
                 (l.status = ANY(${[...DELETION_STATUSES]}::int[])
                  OR (l.status = ANY(${[...GUARDED_TRANSIENT_STATUSES]}::int[]) AND (th.seconds IS NULL OR l.age_seconds <= th.seconds))) AS refused
          FROM locked l
          LEFT JOIN LATERAL ${resolvedRowSql(g, Prisma.sql`l.status`, Prisma.sql`l.workspace_id`)} th ON true
        ), task AS (
          SELECT * FROM verdict WHERE NOT refused OR ${force}::boolean
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
          RETURNING t.id, t.restart_count, t.status, t.organization_id, t.workspace_id, t.external_id
        ), event AS (
          INSERT INTO task_events (task_id, organization_id, workspace_id, external_id, kind, from_status, to_status, reason, actor, request_id, details)
          SELECT u.id, u.organization_id, u.workspace_id, u.external_id, 'REPROCESSED', b.status, u.status,
                 CASE WHEN ${force}::boolean THEN 'forced reprocess requested by ' ELSE 'reprocess requested by ' END
                   || ${request.actor}::text || ': ' || ${nameOf(Prisma.sql`b.status`)}
                   || CASE WHEN b.location = 'HISTORY' THEN ' (in history)' ELSE '' END
                   || ' -> ' || ${nameOf(Prisma.sql`u.status`)} || ', edits discarded'
                   || CASE WHEN b.refused THEN ' (guard overridden)' ELSE '' END,
                 ${request.actor}, ${request.requestId},
                 jsonb_build_object('restartCount', u.restart_count, 'fromLocation', b.location,
                                    'discardedEdits', b.edits, 'discardedWarning', b.warning,
                                    'discardedWarningReason', b.warning_reason, 'assignmentsBefore', ab.list)
                   || CASE WHEN ${force}::boolean
                        THEN jsonb_build_object('forced', true, 'guardOverridden', b.refused, 'statusAgeSeconds', round(b.age_seconds), 'thresholdSeconds', b.threshold_seconds)
                        ELSE '{}'::jsonb END
                   || CASE WHEN ${request.httpRequestId ?? null}::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('httpRequestId', ${request.httpRequestId ?? null}::text) END
                   || CASE WHEN ${request.bulkId ?? null}::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('bulkId', ${request.bulkId ?? null}::text) END
          FROM updated u, task b, assignments_before ab
        )
        SELECT 'applied' AS kind, u.id AS task_id, u.restart_count, u.status::int AS status, b.status::int AS from_status,
               ${force}::boolean AS forced, NULL::float8 AS age_seconds, NULL::int AS threshold_seconds
        FROM updated u, task b
        UNION ALL
        SELECT 'conflict', v.id, NULL, v.status::int, v.status::int, false, v.age_seconds, v.threshold_seconds
        FROM verdict v WHERE v.refused AND NOT ${force}::boolean
        UNION ALL
        SELECT * FROM done`;
}

export async function reprocessTask(db: ReprocessDb, target: ReprocessTarget, request: ReprocessTaskRequest): Promise<ReprocessTaskOutcome> {
  const done = alreadyApplied(request.requestId);
  let rows: OutcomeRow[];
  try {
    // One statement, so one transaction of its own (autocommit): see "Exactly once" above.
    rows = await db.$queryRaw<OutcomeRow[]>(prepared(reprocessStatement(target, request, done)));
  } catch (error) {
    // Another delivery of this request committed while we waited for the row: return its result.
    // When the look-up fails too (in a bulk's slice the failed statement aborted the transaction, so
    // it can only answer "current transaction is aborted"), the statement's own error is the one to tell.
    const first = await committedByAnotherDelivery().catch(() => undefined);
    if (first) return first;
    throw error;
  }
  const row = rows[0];
  if (!row) return { kind: "notFound", message: `NotFound: no ${describeTarget(target)}` };
  // The guard saw the row another delivery of this request had just restarted (fresh in
  // QueuedForPreProcessing): that is this request's own result, not a conflict.
  if (row.kind === "conflict") return (await committedByAnotherDelivery()) ?? toOutcome(row);
  return toOutcome(row);

  async function committedByAnotherDelivery(): Promise<ReprocessTaskOutcome | undefined> {
    const [first] = await db.$queryRaw<OutcomeRow[]>(prepared(done));
    return first ? toOutcome(first) : undefined;
  }
}
