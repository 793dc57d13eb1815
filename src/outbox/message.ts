// What one task event looks like outside the watchdog: the job data on the events queue and the
// `data` of a webhook's body. Pure: built from a row of readEventsPage. Documented in
// docs/events.md; change both together (consumers parse it).
import { findStatus } from "../rules/status.js";
import type { TaskEventColumns } from "../rules/task-event.js";

/** A row of task_events, as readEventsPage (src/outbox/sql/read-events.ts) returns it. */
export interface OutboxEventRow extends TaskEventColumns {
  id: string; // bigint, as text
  txid: string; // bigint, as text
  task_id: number;
  organization_id: number;
  workspace_id: number;
  external_id: string | null;
  details: Record<string, unknown> | null;
}

export interface StatusRef {
  code: number;
  /** null for a code this version does not know (a newer platform's). */
  name: string | null;
}

export interface TaskEventMessage {
  /** `evt_<task_events.id>`: the idempotency key (also the job id and the `webhook-id` header). */
  id: string;
  /** task.auto_reverted, task.moved_to_history, task.reprocessed, task.flagged. */
  type: string;
  kind: string;
  taskId: number;
  organizationId: number;
  workspaceId: number;
  externalId: string | null;
  fromStatus: StatusRef;
  /** null when the status did not change (moved to history, flagged). */
  toStatus: StatusRef | null;
  reason: string;
  actor: string;
  /** The sweep that wrote it (auto_reverted, moved_to_history, flagged), or null. */
  sweepId: string | null;
  stuckSince: string | null;
  createdAt: string;
  details: EventDetails;
}

/** The details a consumer may rely on; the rest (discarded edits, assignments) stays in the audit trail. */
export interface EventDetails {
  restartCount?: number;
  fromLocation?: string;
  forced?: boolean;
  releasedBy?: string;
  escalated?: boolean;
  revertCount?: number;
  /** A reprocess that was part of a bulk reprocess: its id. */
  bulkId?: string;
}

const DETAIL_KEYS = ["restartCount", "fromLocation", "forced", "releasedBy", "escalated", "revertCount", "bulkId"] as const;

export const eventMessageId = (eventId: string | bigint | number): string => `evt_${eventId}`;

export function eventType(kind: string): string {
  return `task.${kind.toLowerCase()}`;
}

const statusRef = (code: number): StatusRef => ({ code, name: findStatus(code)?.name ?? null });

export function toEventMessage(row: OutboxEventRow): TaskEventMessage {
  const details: Record<string, unknown> = {};
  for (const key of DETAIL_KEYS) if (row.details && row.details[key] !== undefined) details[key] = row.details[key];
  return {
    id: eventMessageId(row.id),
    type: eventType(row.kind),
    kind: row.kind,
    taskId: row.task_id,
    organizationId: row.organization_id,
    workspaceId: row.workspace_id,
    externalId: row.external_id,
    fromStatus: statusRef(row.from_status),
    toStatus: row.to_status === null ? null : statusRef(row.to_status),
    reason: row.reason,
    actor: row.actor,
    sweepId: row.sweep_id,
    stuckSince: row.stuck_since ? row.stuck_since.toISOString() : null,
    createdAt: row.created_at.toISOString(),
    details: details as EventDetails,
  };
}

/** The body of a webhook request, in the Standard Webhooks shape `{ type, timestamp, data }`. */
export function webhookBody(message: TaskEventMessage): string {
  return JSON.stringify({ type: message.type, timestamp: message.createdAt, data: message });
}
