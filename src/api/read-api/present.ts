// Database rows as the read API shows them.
import type { TaskEventRow } from "./sql/list-task-events.js";
import type { TaskStatusRow } from "./sql/task-status-columns.js";
import type { Rule } from "../../rules/rules.js";
import { statusName } from "../../rules/status.js";
import { stuckVerdict } from "../../rules/stuck.js";
import type { z } from "zod";
import type { TaskEventBody, TaskStatusBody } from "./bodies.js";

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export function presentTask(row: TaskStatusRow, rules: readonly Rule[]): z.input<typeof TaskStatusBody> {
  const verdict = stuckVerdict(rules, { status: row.status, workspaceId: row.workspace_id, location: row.location, secondsInStatus: row.seconds_in_status });
  return {
    taskId: row.id,
    externalId: row.external_id,
    displayName: row.display_name,
    organizationId: row.organization_id,
    workspaceId: row.workspace_id,
    status: row.status,
    statusName: statusName(row.status),
    previousStatus: row.previous_status,
    previousStatusName: row.previous_status === null ? null : statusName(row.previous_status),
    statusChangedAt: row.status_changed_at.toISOString(),
    secondsInStatus: Math.max(0, Math.floor(row.seconds_in_status)),
    location: row.location,
    movedToHistoryAt: iso(row.moved_to_history_at),
    warning: row.warning,
    warningReason: row.warning_reason,
    restartCount: row.restart_count,
    autoRevertCount: row.auto_revert_count,
    preProcessingStartedOn: iso(row.pre_processing_started_on),
    createdOn: row.created_on.toISOString(),
    stuck: verdict.stuck,
    stuckAfterSeconds: verdict.stuckAfterSeconds,
    stuckSince: verdict.stuck && verdict.stuckAfterSeconds !== null ? new Date(row.status_changed_at.getTime() + verdict.stuckAfterSeconds * 1000).toISOString() : null,
    checkedAt: row.checked_at.toISOString(),
  };
}

export function presentEvent(row: TaskEventRow): z.input<typeof TaskEventBody> {
  return {
    // The events relay names an event the same way (its webhook-id), so the two can be matched.
    id: `evt_${String(row.id)}`,
    kind: row.kind,
    fromStatus: row.from_status,
    fromStatusName: statusName(row.from_status),
    toStatus: row.to_status,
    toStatusName: row.to_status === null ? null : statusName(row.to_status),
    reason: row.reason,
    actor: row.actor,
    sweepId: row.sweep_id,
    requestId: row.request_id,
    stuckSince: iso(row.stuck_since),
    details: row.details ?? null,
    createdAt: row.created_at.toISOString(),
  };
}
