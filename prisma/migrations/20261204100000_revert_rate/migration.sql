-- The rate hold's memory (docs/safety.md, "Rate hold"): how many tasks the sweep reverted, per
-- status and minute (the database clock). Every revert batch adds its count to its status's current
-- minute in the same statement, so the history is exact (a batch and its count commit together) and
-- every replica reads the same one. Small: one row per status and minute with reverts; a batch deletes
-- its status's rows older than the rule needs (its rate window plus its baseline, a day and an hour by default).
CREATE TABLE "status_revert_counts" (
    "status" SMALLINT NOT NULL,
    -- date_trunc('minute', now()) of the batches counted here.
    "minute" TIMESTAMPTZ(6) NOT NULL,
    "reverts" INTEGER NOT NULL,

    CONSTRAINT "status_revert_counts_pkey" PRIMARY KEY ("status", "minute")
);
