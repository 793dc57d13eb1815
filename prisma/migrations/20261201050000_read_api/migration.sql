-- The read API's list (GET /api/v1.0/external/sdtask/statuslist) pages through one organization's
-- tasks in id order from a keyset cursor: this index makes a page cost what the page reads, in an
-- organization of any size, whatever its filters (they are checked on the rows read in id order).
-- Building it takes a SHARE lock on tasks (writers wait) for the build: seconds per million rows.
CREATE INDEX "tasks_organization_id_id_idx" ON "tasks"("organization_id", "id");
