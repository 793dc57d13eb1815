-- The escalated tasks (the operator console's "needs support" section, `watchdog stuck`): inbox
-- tasks with a warning, most reverted first. Without an index of their own they were a bitmap of
-- every warned task AND every inbox task of the platform, then each row read (2.5M tasks, a 2M-task
-- organization: 640,000 inbox entries, 37,677 heap blocks, 0.4-1.1 s per console page, growing with
-- the biggest organization's inbox). This partial index holds only warned inbox tasks, in the
-- order the section shows them (docs/performance.md, "2026-12-06 evening").
-- CONCURRENTLY, alone in its migration (see 20261204140000_tasks_organization_status_idx): one pass
-- over the table without blocking writes — on 100M tasks, minutes of I/O (the whole heap is read),
-- a small index (the warned inbox rows only).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "tasks_inbox_escalated_idx" ON "tasks"("auto_revert_count" DESC, "id") WHERE "location" = 'INBOX' AND "warning";
