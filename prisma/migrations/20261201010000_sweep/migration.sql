-- The sweep's second access path, the FLAGGED event of report-only rules, and what a report-only
-- rule remembers so it flags each stuck episode once.

-- Report-only rules (action "flag") write one FLAGGED event per stuck episode.
ALTER TYPE "task_event_kind" ADD VALUE IF NOT EXISTS 'FLAGGED';

-- The status_changed_at of the stuck episode a report-only rule last flagged: while it equals
-- status_changed_at the task has been flagged for this episode; a status change starts a new one.
ALTER TABLE "tasks" ADD COLUMN "flagged_episode" TIMESTAMPTZ(6);

-- Per workspace: the oldest inbox task of each (status, workspace) is one descent away, so a sweep
-- skips a switched-off workspace's rows (however many) in one step and judges every workspace by
-- its own threshold without a probe per workspace override (src/db/sql/stuck-workspaces.ts).
CREATE INDEX "tasks_inbox_status_workspace_changed_at_idx" ON "tasks"("status", "workspace_id", "status_changed_at") WHERE (location = 'INBOX');
