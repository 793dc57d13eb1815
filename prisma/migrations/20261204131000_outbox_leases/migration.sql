-- The relay's coordination moves from session-level advisory locks and one BullMQ job per
-- organization to leases in this table, so it runs through PgBouncer in transaction mode and a
-- killed replica's work is taken over when its lease runs out (seconds), not when a job lock does.
--
-- Targets: 'dispatch' (reads each round's new events once, for all organizations, and marks the
-- organizations that have some as pending), 'queue' (the BullMQ events queue) and
-- 'webhook:<organizationId>' (one per organization with an endpoint).
--  - lease_owner / lease_expires_at: who relays the target now; taken by compare-and-set
--    (UPDATE … WHERE the lease is free or expired RETURNING), renewed while it works, fenced: every
--    position write names the owner, so a replica that lost its lease moves nothing.
--  - pending / mark_seq: set by 'dispatch' when the organization has new events (mark_seq counts
--    the marks); a delivery that finishes its batch clears pending only when no mark came since the
--    batch began (batch_mark_seq), so an event committed during a delivery is never left unmarked.
--    pending_since: since when the organization has had undelivered events (the age gauge).
--  - next_attempt_at: when a failing endpoint is tried again (backoff), or when a target that
--    handed over after its time budget may be taken again.
-- Only pending targets are ever read to find work (the partial index): an idle organization costs
-- nothing per round.
ALTER TABLE "outbox_cursors"
    ADD COLUMN "organization_id" INTEGER,
    ADD COLUMN "pending" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN "mark_seq" BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN "batch_mark_seq" BIGINT,
    ADD COLUMN "lease_owner" TEXT,
    ADD COLUMN "lease_expires_at" TIMESTAMPTZ(6),
    ADD COLUMN "next_attempt_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN "pending_since" TIMESTAMPTZ(6),
    DROP COLUMN "job_id",
    DROP COLUMN "job_seq";

-- Existing organizations are looked at once after the upgrade.
UPDATE "outbox_cursors" SET "organization_id" = substring("target" FROM 9)::int, "pending" = true, "pending_since" = now() WHERE "target" LIKE 'webhook:%';

CREATE INDEX "outbox_cursors_due_idx" ON "outbox_cursors"("next_attempt_at") WHERE "pending";
