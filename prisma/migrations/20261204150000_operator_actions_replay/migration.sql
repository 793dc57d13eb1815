-- What operators did, and the webhook replays they asked for (issue 21).
--
-- operator_actions: one row per action of a person — pause, resume, release of a held status,
-- replay of webhook events — whichever way it came (the `watchdog` CLI, the operator console,
-- the ops endpoint). Written in the same transaction as the action's own rows where there are
-- any (a pause, the replay's events), so an action and its audit record exist together or not
-- at all. Rows are never updated nor deleted.
CREATE TABLE "operator_actions" (
    "id" BIGSERIAL NOT NULL,
    -- pause, resume, release, replay
    "action" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "reason" TEXT,
    -- cli, console, ops-api
    "via" TEXT NOT NULL,
    -- What exactly: the rule, the expiry, the released statuses and sweep job, the replay's selection and count.
    "details" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "operator_actions_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "operator_actions_created_at_idx" ON "operator_actions" ("created_at");

-- An event the webhook delivery gave up (it failed for longer than WEBHOOK_RETRY_FOR; the
-- organization's position moved past it): what to replay. Before this table the only trace was a
-- log line and a counter. No foreign key to task_events: its retention drops whole partitions.
CREATE TABLE "webhook_given_up" (
    "event_id" BIGINT NOT NULL,
    "organization_id" INTEGER NOT NULL,
    "attempts" INTEGER NOT NULL,
    "last_error" TEXT,
    "given_up_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_given_up_pkey" PRIMARY KEY ("event_id")
);
CREATE INDEX "webhook_given_up_organization_id_given_up_at_idx" ON "webhook_given_up" ("organization_id", "given_up_at");

-- One row per event of a replay (operator_actions.id = the replay's id). The replay's job (queue
-- task-watchdog-webhook-replays) sends the rows still pending, each with its event's original
-- webhook-id, and marks them delivered; abandoned_at is set when the replay itself fails past
-- WEBHOOK_RETRY_FOR (or could not be queued). An event already pending in a replay is not added to
-- another one.
CREATE TABLE "webhook_replays" (
    "replay_id" BIGINT NOT NULL,
    "event_id" BIGINT NOT NULL,
    "organization_id" INTEGER NOT NULL,
    "requested_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "delivered_at" TIMESTAMPTZ(6),
    "abandoned_at" TIMESTAMPTZ(6),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,

    CONSTRAINT "webhook_replays_pkey" PRIMARY KEY ("replay_id", "event_id"),
    CONSTRAINT "webhook_replays_replay_id_fkey" FOREIGN KEY ("replay_id") REFERENCES "operator_actions"("id")
);
CREATE INDEX "webhook_replays_event_id_idx" ON "webhook_replays" ("event_id");
