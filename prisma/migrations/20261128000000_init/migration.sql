-- Tables of SPEC §4, the trigger that keeps status_changed_at / previous_status right for every
-- writer, and the indexes that make a sweep cost proportional to the stuck rows.

CREATE TYPE "task_location" AS ENUM ('INBOX', 'HISTORY');
CREATE TYPE "assignment_status" AS ENUM ('PENDING', 'IN_PROGRESS', 'COMPLETED', 'REJECTED');
CREATE TYPE "task_event_kind" AS ENUM ('AUTO_REVERTED', 'MOVED_TO_HISTORY', 'REPROCESSED');

CREATE TABLE "tasks" (
    "id" SERIAL NOT NULL,
    "organization_id" INTEGER NOT NULL,
    "workspace_id" INTEGER NOT NULL,
    "batch_id" INTEGER,
    "external_id" TEXT,
    "display_name" TEXT NOT NULL,
    "status" SMALLINT NOT NULL,
    "previous_status" SMALLINT,
    "status_changed_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "location" "task_location" NOT NULL DEFAULT 'INBOX',
    "moved_to_history_at" TIMESTAMPTZ(6),
    "warning" BOOLEAN NOT NULL DEFAULT false,
    "warning_reason" TEXT,
    "auto_revert_count" INTEGER NOT NULL DEFAULT 0,
    "restart_count" INTEGER NOT NULL DEFAULT 0,
    "pre_processing_started_on" TIMESTAMPTZ(6),
    "original_payload" JSONB NOT NULL,
    "edits" JSONB,
    "created_on" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tasks_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "task_assignments" (
    "id" SERIAL NOT NULL,
    "task_id" INTEGER NOT NULL,
    "user_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "status" "assignment_status" NOT NULL DEFAULT 'PENDING',
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "task_assignments_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "task_events" (
    "id" BIGSERIAL NOT NULL,
    "task_id" INTEGER NOT NULL,
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

    CONSTRAINT "task_events_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "tasks_organization_id_external_id_key" ON "tasks"("organization_id", "external_id");

-- The sweep's only access path: one range probe per rule over the inbox. Partial, so the
-- (ever-growing) history costs nothing, and a steady-state sweep stays flat with table size.
CREATE INDEX "tasks_inbox_status_changed_at_idx" ON "tasks"("status", "status_changed_at") WHERE (location = 'INBOX');

CREATE INDEX "task_assignments_task_id_position_idx" ON "task_assignments"("task_id", "position");
CREATE UNIQUE INDEX "task_events_request_id_key" ON "task_events"("request_id");
CREATE INDEX "task_events_task_id_created_at_idx" ON "task_events"("task_id", "created_at");

ALTER TABLE "task_assignments" ADD CONSTRAINT "task_assignments_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "task_events" ADD CONSTRAINT "task_events_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Every writer (the platform, the watchdog, a person in psql) gets the same bookkeeping:
-- a status change stamps status_changed_at with the database clock and remembers the old status.
CREATE FUNCTION "tasks_track_status_change"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_changed_at := now();
        NEW.previous_status := OLD.status;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER "tasks_track_status_change"
    BEFORE UPDATE ON "tasks"
    FOR EACH ROW EXECUTE FUNCTION "tasks_track_status_change"();

-- "3 h 12 min", "2 d 4 h", "45 min": how long a task was stuck, for warning_reason and the audit
-- trail. Mirrored by formatDuration() in src/domain/duration.ts; a test compares the two.
CREATE FUNCTION "watchdog_humanize_seconds"(seconds bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN seconds >= 86400 THEN (seconds / 86400) || ' d' ||
            CASE WHEN (seconds % 86400) / 3600 > 0 THEN ' ' || (seconds % 86400) / 3600 || ' h' ELSE '' END
        WHEN seconds >= 3600 THEN (seconds / 3600) || ' h' ||
            CASE WHEN (seconds % 3600) / 60 > 0 THEN ' ' || (seconds % 3600) / 60 || ' min' ELSE '' END
        WHEN seconds >= 60 THEN (seconds / 60) || ' min'
        ELSE greatest(seconds, 0) || ' s'
    END
$$;
