/** The columns of a task_events row (the audit trail and the outbox) that every reader gets as they are. */
export interface TaskEventColumns {
  kind: string;
  from_status: number;
  to_status: number | null;
  reason: string;
  actor: string;
  sweep_id: string | null;
  request_id: string | null;
  stuck_since: Date | null;
  created_at: Date;
}
