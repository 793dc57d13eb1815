// The columns the read API shows of a task, shared by findTaskStatus and listTaskStatuses so one
// task reads the same through either. `seconds_in_status` and `checked_at` are taken from the
// DATABASE clock (the sweep's), so "is it stuck" is judged as the sweep would judge it.
import * as Prisma from "../../../platform/db/sql.js";

export interface TaskStatusRow {
  id: number;
  organization_id: number;
  workspace_id: number;
  external_id: string | null;
  display_name: string;
  status: number;
  previous_status: number | null;
  status_changed_at: Date;
  location: "INBOX" | "HISTORY";
  moved_to_history_at: Date | null;
  warning: boolean;
  warning_reason: string | null;
  restart_count: number;
  auto_revert_count: number;
  pre_processing_started_on: Date | null;
  created_on: Date;
  seconds_in_status: number;
  checked_at: Date;
}

export const TASK_STATUS_COLUMNS = Prisma.sql`t.id, t.organization_id, t.workspace_id, t.external_id, t.display_name, t.status,
  t.previous_status, t.status_changed_at, t.location::text AS location, t.moved_to_history_at, t.warning, t.warning_reason,
  t.restart_count, t.auto_revert_count, t.pre_processing_started_on, t.created_on,
  extract(epoch FROM now() - t.status_changed_at)::float8 AS seconds_in_status, now() AS checked_at`;
