-- The read API's status list with warning=true reads only an organization's tasks that carry a
-- warning, in id order: few rows, a small partial index (docs/performance.md, "Scale").
-- CONCURRENTLY, alone in its migration (see 20261204140000_tasks_organization_status_idx).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "tasks_organization_id_warning_id_idx" ON "tasks"("organization_id", "id") WHERE "warning";
