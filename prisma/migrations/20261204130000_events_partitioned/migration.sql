-- task_events becomes a table partitioned by month of created_at, whose rows carry their task's
-- organization, workspace and external id. Three problems, one rebuild:
--
-- 1. An audit trail outlives its task. The foreign key with ON DELETE CASCADE deleted a task's
--    events with it, and the relay, which joined every event to its task, silently dropped the
--    undelivered events of a deleted task. The event row now holds what the relay and a reader
--    need (organization_id, workspace_id, external_id as they were when the event was written)
--    and there is no foreign key: deleting a task leaves its events, and they are still delivered.
-- 2. The relay's cost follows the new events, not organizations x window: the index
--    (organization_id, txid, id) serves one organization's read directly (no join, no filter after
--    the fact), and (txid, id) serves the one global read per round (src/events/).
-- 3. Retention whose cost does not grow with the table: a month of events is one partition, pruned
--    by DROP TABLE once every relay target has moved past all of it (src/events/retention.ts),
--    never an undelivered event.
--
-- request_id idempotency: a unique index on a partitioned table must contain the partition key,
-- which would make it unique per month only. The reprocess requests' ids live in their own small
-- table instead (task_event_requests, primary key request_id), filled by a trigger on the events
-- that carry one: a second event with the same request_id fails with a unique violation exactly as
-- before, the sweep's events (request_id NULL) are not indexed there at all, and the reprocess
-- statement (a plain INSERT INTO task_events) is unchanged.
--
-- A writer that does not name organization_id (an older statement, a person in psql) gets it from
-- the task by a BEFORE INSERT trigger that fires only then (WHEN NEW.organization_id IS NULL); the
-- watchdog's own statements pass it, so a sweep batch pays nothing for it.
--
-- Runs in one transaction: the old rows are copied, which at tens of millions of rows is a
-- maintenance-window step (docs/events.md, "Upgrading a large installation").

CREATE TABLE "task_events_partitioned" (
    "id" BIGINT NOT NULL DEFAULT nextval('task_events_id_seq'),
    "task_id" INTEGER NOT NULL,
    "organization_id" INTEGER NOT NULL,
    "workspace_id" INTEGER NOT NULL,
    "external_id" TEXT,
    "kind" "task_event_kind" NOT NULL,
    "from_status" SMALLINT NOT NULL,
    "to_status" SMALLINT,
    "reason" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "sweep_id" TEXT,
    "request_id" TEXT,
    "stuck_since" TIMESTAMPTZ(6),
    "details" JSONB,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "txid" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text)::bigint,

    CONSTRAINT "task_events_partitioned_pkey" PRIMARY KEY ("id", "created_at")
) PARTITION BY RANGE ("created_at");

-- Rows of an unexpected month (maintenance behind, a hand-written timestamp) land here instead of
-- failing the sweep's statement; the retention timer logs a warning when it holds any.
CREATE TABLE "task_events_default" PARTITION OF "task_events_partitioned" DEFAULT;

-- One partition per month from the oldest event's month to three months ahead; the retention
-- timer keeps creating them ahead (createEventPartitions).
DO $$
DECLARE
    month date := date_trunc('month', coalesce((SELECT min(created_at) FROM task_events), now()) AT TIME ZONE 'UTC')::date;
    last date := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months')::date;
BEGIN
    WHILE month <= last LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF task_events_partitioned FOR VALUES FROM (%L) TO (%L)',
                       'task_events_' || to_char(month, 'YYYY_MM'),
                       (month::timestamp AT TIME ZONE 'UTC'), ((month + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        month := (month + interval '1 month')::date;
    END LOOP;
END $$;

-- Events written before the outbox migration have no txid: 0 is below every snapshot, never relayed.
INSERT INTO "task_events_partitioned" ("id", "task_id", "organization_id", "workspace_id", "external_id", "kind", "from_status",
    "to_status", "reason", "actor", "sweep_id", "request_id", "stuck_since", "details", "created_at", "txid")
SELECT e.id, e.task_id, t.organization_id, t.workspace_id, t.external_id, e.kind, e.from_status,
       e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.details, e.created_at, coalesce(e.txid, 0)
FROM "task_events" e JOIN "tasks" t ON t.id = e.task_id;

CREATE TABLE "task_event_requests" (
    "request_id" TEXT NOT NULL,
    "event_id" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "task_event_requests_pkey" PRIMARY KEY ("request_id")
);
CREATE INDEX "task_event_requests_created_at_idx" ON "task_event_requests"("created_at");
INSERT INTO "task_event_requests" ("request_id", "event_id", "created_at")
SELECT request_id, id, created_at FROM "task_events" WHERE request_id IS NOT NULL;

ALTER SEQUENCE "task_events_id_seq" OWNED BY NONE;
DROP TABLE "task_events";
ALTER TABLE "task_events_partitioned" RENAME TO "task_events";
ALTER TABLE "task_events" RENAME CONSTRAINT "task_events_partitioned_pkey" TO "task_events_pkey";
ALTER SEQUENCE "task_events_id_seq" OWNED BY "task_events"."id";

CREATE INDEX "task_events_task_id_created_at_idx" ON "task_events"("task_id", "created_at");
CREATE INDEX "task_events_txid_id_idx" ON "task_events"("txid", "id");
CREATE INDEX "task_events_organization_id_txid_id_idx" ON "task_events"("organization_id", "txid", "id");
-- Looks up a reprocess request's event (the reprocess statement's "already done?" read); sweep
-- events (request_id NULL) are not in it.
CREATE INDEX "task_events_request_id_idx" ON "task_events"("request_id") WHERE "request_id" IS NOT NULL;

CREATE FUNCTION "task_events_fill_task_columns"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT t.organization_id, t.workspace_id, t.external_id INTO NEW.organization_id, NEW.workspace_id, NEW.external_id
    FROM tasks t WHERE t.id = NEW.task_id;
    IF NEW.organization_id IS NULL THEN
        RAISE EXCEPTION 'task_events: task % does not exist; name organization_id and workspace_id for an event of a deleted task', NEW.task_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER "task_events_fill_task_columns"
    BEFORE INSERT ON "task_events"
    FOR EACH ROW WHEN (NEW.organization_id IS NULL) EXECUTE FUNCTION "task_events_fill_task_columns"();

CREATE FUNCTION "task_events_register_request"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_event_requests (request_id, event_id, created_at) VALUES (NEW.request_id, NEW.id, NEW.created_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER "task_events_register_request"
    AFTER INSERT ON "task_events"
    FOR EACH ROW WHEN (NEW.request_id IS NOT NULL) EXECUTE FUNCTION "task_events_register_request"();
