// reprocessTask — applies one reprocess request, exactly once, in one transaction.
//
// In:    the target ({ taskId [, organizationId] } or { externalId, organizationId }), the
//        request id (unique per BullMQ job, stable across redeliveries of that job) and the actor.
// Locks: the task row, FOR UPDATE, before any write. Two deliveries of the same job (a worker
//        killed after the commit, before BullMQ recorded completion) therefore run one after the
//        other, and the second sees the first's committed event (READ COMMITTED: each statement
//        takes a fresh snapshot) — the unique index on task_events.request_id is the backstop.
//        The event is looked up before the lock too, so a redelivery still gets its result when the
//        task's external id changed in between.
// Does:  status -> QueuedForPreProcessing (30) with status_changed_at = now() (also when it already
//        was 30, so the sweep does not revert a fresh restart), restart_count + 1,
//        pre_processing_started_on = now(), edits = NULL, warning = false, warning_reason = NULL,
//        location -> INBOX (moved_to_history_at NULL), every assignment -> PENDING, and one
//        REPROCESSED task_events row whose `details` keep what was discarded (edits, warning,
//        assignment states) so support can recover them. original_payload is never written: it is
//        what the pipeline re-reads.
// Out:   notFound; applied; or alreadyApplied with the result the first delivery committed.
import { Prisma } from "../../generated/prisma/client.js";
import { describeTarget, type ReprocessTarget } from "../../domain/reprocess-request.js";
import { TaskStatus, statusName } from "../../domain/status.js";
import type { Db } from "../client.js";

export type ReprocessOutcome =
  | { kind: "notFound"; message: string }
  | { kind: "applied" | "alreadyApplied"; taskId: number; restartCount: number; status: number; fromStatus: number };

const TO_STATUS = TaskStatus.QueuedForPreProcessing;

export async function reprocessTask(db: Db, target: ReprocessTarget, request: { requestId: string; actor: string }): Promise<ReprocessOutcome> {
  const where =
    "taskId" in target
      ? Prisma.sql`t.id = ${target.taskId}::int${target.organizationId === undefined ? Prisma.empty : Prisma.sql` AND t.organization_id = ${target.organizationId}::int`}`
      : Prisma.sql`t.organization_id = ${target.organizationId}::int AND t.external_id = ${target.externalId}::text`;

  return db.$transaction(
    async (tx) => {
      const alreadyApplied = async (): Promise<ReprocessOutcome | undefined> => {
        const [done] = await tx.$queryRaw<{ task_id: number; from_status: number; to_status: number; restart_count: number }[]>`
          SELECT task_id, from_status, to_status, (details ->> 'restartCount')::int AS restart_count
          FROM task_events WHERE request_id = ${request.requestId}`;
        return done && { kind: "alreadyApplied", taskId: done.task_id, restartCount: done.restart_count, status: done.to_status, fromStatus: done.from_status };
      };
      // Before the lock: a redelivery returns its result even if the task's external id changed since.
      const before = await alreadyApplied();
      if (before) return before;

      const [task] = await tx.$queryRaw<{ id: number; status: number; location: string }[]>`
        SELECT t.id, t.status, t.location::text FROM tasks t WHERE ${where} FOR UPDATE`;
      if (!task) return { kind: "notFound", message: `NotFound: no ${describeTarget(target)}` };
      // After the lock: a delivery running at the same time may have committed while we waited.
      const meanwhile = await alreadyApplied();
      if (meanwhile) return meanwhile;

      const reason = `reprocess requested by ${request.actor}: ${statusName(task.status)}${task.location === "HISTORY" ? " (in history)" : ""} -> ${statusName(TO_STATUS)}, edits discarded`;
      const [row] = await tx.$queryRaw<{ restart_count: number; status: number }[]>`
        WITH before AS (
          SELECT t.id, t.status, t.location, t.edits, t.warning, t.warning_reason
          FROM tasks t WHERE t.id = ${task.id}::int
        ), assignments_before AS (
          SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'userId', a.user_id, 'position', a.position, 'status', a.status)
                                    ORDER BY a.position, a.id), '[]'::jsonb) AS list
          FROM task_assignments a WHERE a.task_id = ${task.id}::int
        ), reset_assignments AS (
          UPDATE task_assignments SET status = 'PENDING', updated_at = now()
          WHERE task_id = ${task.id}::int AND status <> 'PENDING'
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
          FROM before b
          WHERE t.id = b.id
          RETURNING t.id, t.restart_count, t.status
        ), event AS (
          INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, request_id, details)
          SELECT u.id, 'REPROCESSED', b.status, u.status, ${reason}, ${request.actor}, ${request.requestId},
                 jsonb_build_object('restartCount', u.restart_count, 'fromLocation', b.location,
                                    'discardedEdits', b.edits, 'discardedWarning', b.warning,
                                    'discardedWarningReason', b.warning_reason, 'assignmentsBefore', ab.list)
          FROM updated u, before b, assignments_before ab
        )
        SELECT u.restart_count, u.status::int AS status FROM updated u`;
      if (!row) throw new Error(`reprocessTask: task ${task.id} was locked but not updated`);
      return { kind: "applied", taskId: task.id, restartCount: row.restart_count, status: row.status, fromStatus: task.status };
    },
    // The row lock may wait behind a sweep batch; past this the attempt fails and BullMQ retries it.
    { maxWait: 5_000, timeout: 15_000 },
  );
}
