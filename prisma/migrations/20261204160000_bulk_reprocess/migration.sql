-- Bulk reprocess (docs/reprocess.md, "Bulk"): one row per accepted bulk request, and its selection
-- snapshot — one item per task, in the order they are applied. The worker's pacing loop applies the
-- pending items of each organization through the same reprocess statement as single requests, and
-- records each item's outcome and the time it was applied in the same transaction.

CREATE TYPE "bulk_reprocess_state" AS ENUM ('RUNNING', 'DONE', 'CANCELLED');
CREATE TYPE "bulk_reprocess_outcome" AS ENUM ('APPLIED', 'REFUSED', 'NOT_FOUND');

CREATE TABLE "bulk_reprocesses" (
  "id"              TEXT NOT NULL DEFAULT ('bulk_' || replace(gen_random_uuid()::text, '-', '')),
  "organization_id" INTEGER NOT NULL,
  -- The client's Idempotency-Key and a hash of what it asked: the same key again returns this bulk,
  -- the same key with another request is refused.
  "idempotency_key" TEXT NOT NULL,
  "request_hash"    TEXT NOT NULL,
  -- What was asked, as the client sent it (the filter, or how many ids): for display only.
  "selection"       JSONB NOT NULL,
  "force"           BOOLEAN NOT NULL DEFAULT false,
  "requested_by"    TEXT NOT NULL,
  "http_request_id" TEXT,
  "state"           "bulk_reprocess_state" NOT NULL DEFAULT 'RUNNING',
  "total"           INTEGER NOT NULL,
  "applied"         INTEGER NOT NULL DEFAULT 0,
  "refused"         INTEGER NOT NULL DEFAULT 0,
  "not_found"       INTEGER NOT NULL DEFAULT 0,
  "created_at"      TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
  "finished_at"     TIMESTAMPTZ(6),
  "cancelled_by"    TEXT,
  CONSTRAINT "bulk_reprocesses_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "bulk_reprocesses_organization_id_idempotency_key_key" ON "bulk_reprocesses"("organization_id", "idempotency_key");
-- The pacing loop's question, "which organizations have work", reads only running bulks.
CREATE INDEX "bulk_reprocesses_running_idx" ON "bulk_reprocesses"("organization_id", "created_at") WHERE "state" = 'RUNNING';

CREATE TABLE "bulk_reprocess_items" (
  "bulk_id"         TEXT NOT NULL,
  "position"        INTEGER NOT NULL,
  "organization_id" INTEGER NOT NULL,
  -- NULL when the external id named no task of the organization when the bulk was accepted.
  "task_id"         INTEGER,
  "external_id"     TEXT,
  -- NULL while pending.
  "outcome"         "bulk_reprocess_outcome",
  "reason"          TEXT,
  -- The applying transaction's now(): the same instant as the task's REPROCESSED event.
  "processed_at"    TIMESTAMPTZ(6),
  CONSTRAINT "bulk_reprocess_items_pkey" PRIMARY KEY ("bulk_id", "position"),
  CONSTRAINT "bulk_reprocess_items_bulk_id_fkey" FOREIGN KEY ("bulk_id") REFERENCES "bulk_reprocesses"("id") ON DELETE CASCADE
);
CREATE INDEX "bulk_reprocess_items_pending_idx" ON "bulk_reprocess_items"("bulk_id", "position") WHERE "outcome" IS NULL;
-- The pace: how many items of an organization were processed in the last second.
CREATE INDEX "bulk_reprocess_items_organization_id_processed_at_idx" ON "bulk_reprocess_items"("organization_id", "processed_at") WHERE "processed_at" IS NOT NULL;
