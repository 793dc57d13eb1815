-- The read API's status list with a status filter (or stuck=true) reads each listed status's
-- range of one organization's tasks in id order and merges them: a page reads what it shows,
-- however many tasks the organization has in other statuses (docs/performance.md, "Scale").
-- CONCURRENTLY, alone in its migration: built without blocking the platform's writes (it cannot run
-- inside a transaction). A failed or interrupted build leaves an INVALID index, which the runner
-- drops before building again (docs/operations.md, "Migrations at scale").
CREATE INDEX CONCURRENTLY IF NOT EXISTS "tasks_organization_id_status_id_idx" ON "tasks"("organization_id", "status", "id");
