-- Pauses of the sweep (watchdog pause / resume): kept in PostgreSQL so that a Redis flush or a
-- restart never lifts one, and every replica reads the same state at the start of its next sweep.
-- Each row is one pause and its audit record: who paused, why, when, until when; and how it ended
-- (resumed by whom, expired, or replaced by a newer pause of the same scope). Rows are never deleted.
-- Times come from the database clock (now()), so replicas with skewed clocks agree on expiry.

CREATE TYPE "sweep_pause_end" AS ENUM ('RESUMED', 'EXPIRED', 'REPLACED');

CREATE TABLE "sweep_pauses" (
    "id" BIGSERIAL NOT NULL,
    -- The rule's status code; NULL pauses every rule.
    "status" SMALLINT,
    "reason" TEXT NOT NULL,
    "paused_by" TEXT NOT NULL,
    "paused_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    -- NULL: until resumed.
    "expires_at" TIMESTAMPTZ(6),
    "ended_at" TIMESTAMPTZ(6),
    -- Who resumed or replaced it; NULL when it expired.
    "ended_by" TEXT,
    "ended_how" "sweep_pause_end",

    CONSTRAINT "sweep_pauses_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "sweep_pauses_expires_after_start" CHECK ("expires_at" IS NULL OR "expires_at" > "paused_at"),
    CONSTRAINT "sweep_pauses_ended_whole" CHECK (("ended_at" IS NULL) = ("ended_how" IS NULL))
);

-- At most one open pause per scope (a rule, or every rule), and the sweep's read of the open
-- pauses is a scan of this small partial index, however long the audit history grows.
CREATE UNIQUE INDEX "sweep_pauses_open_scope_key" ON "sweep_pauses" ((COALESCE("status", -1))) WHERE "ended_at" IS NULL;

-- `watchdog status` and people in psql read the history newest first.
CREATE INDEX "sweep_pauses_paused_at_idx" ON "sweep_pauses" ("paused_at");
