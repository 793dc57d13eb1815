-- The events table becomes the outbox: every task_events row written from now on is relayed to
-- the events queue and to the organizations' webhooks (src/events/). Nothing here runs per event
-- row beyond a column default: no trigger, so a sweep batch costs what it cost.
--
-- Why a transaction id on each event: bigserial ids become visible out of order across
-- concurrent transactions (a transaction takes id 10, commits after id 11 was committed and
-- relayed), so "id > last relayed id" would skip id 10 for good. The relay works like PgQ's
-- ticks instead: it keeps two snapshots per target (pg_current_snapshot() taken at two moments)
-- and relays, in (txid, id) order, exactly the events whose transaction is visible in the later
-- snapshot and not in the earlier one. Every committed event falls between two consecutive
-- snapshots exactly once, whatever its id; a transaction still open is simply in a later batch,
-- and it holds nothing else back.
--
-- Added without a default first, then the default set: a volatile default on ADD COLUMN would
-- rewrite the table. Rows written before this migration keep NULL and are not relayed.
ALTER TABLE "task_events" ADD COLUMN "txid" BIGINT;
ALTER TABLE "task_events" ALTER COLUMN "txid" SET DEFAULT (pg_current_xact_id()::text)::bigint;
CREATE INDEX "task_events_txid_id_idx" ON "task_events"("txid", "id");

-- One row per relay target: 'queue' (the BullMQ events queue) and 'webhook:<organizationId>'.
-- Position: every event visible in snap_from is done; of those visible in snap_to (the batch in
-- progress, NULL between batches) the ones up to (after_txid, after_event_id) are done too.
-- A webhook target also names the BullMQ job in charge of it (job_id), so one organization's
-- events go out one at a time, in order; failing_event_id / failing_since / failed_attempts say
-- since when its current event fails, and last_error why (never a secret).
CREATE TABLE "outbox_cursors" (
    "target" TEXT NOT NULL,
    "snap_from" TEXT NOT NULL,
    "snap_to" TEXT,
    "after_txid" BIGINT NOT NULL DEFAULT 0,
    "after_event_id" BIGINT NOT NULL DEFAULT 0,
    "job_id" TEXT,
    "job_seq" INTEGER NOT NULL DEFAULT 0,
    "failing_event_id" BIGINT,
    "failing_since" TIMESTAMPTZ(6),
    "failed_attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "delivered_count" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "outbox_cursors_pkey" PRIMARY KEY ("target")
);
