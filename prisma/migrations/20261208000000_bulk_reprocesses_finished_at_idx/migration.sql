-- The hourly retention deletes the bulk reprocesses that finished (DONE or CANCELLED) more than
-- EVENTS_RETENTION ago, oldest first (src/outbox/sql/bulk-retention.ts). This partial index holds the
-- finished bulks by finished_at, so finding the old ones is a range at its start, whatever the number
-- of bulks kept; without it each run read the whole table and sorted it. A running bulk is not in it
-- (the pacing loop finds those through bulk_reprocesses_running_idx) and is never deleted.
-- CONCURRENTLY, alone in its migration (see 20261204140000_tasks_organization_status_idx): built
-- without blocking the starts, slices and cancels that write bulk_reprocesses.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "bulk_reprocesses_finished_at_idx" ON "bulk_reprocesses"("finished_at") WHERE "state" <> 'RUNNING';
