-- The outbox's reads (src/outbox/sql/read-events.ts) as two functions, so that their plan does not
-- depend on the planner's estimate of how many events a batch holds.
--
-- A page is "the next N events in (txid, id) order" of a batch. task_events is partitioned by month,
-- so that order comes either from a Merge Append of each partition's (txid, id) index, stopped by the
-- LIMIT after N rows, or from reading every event of the batch and sorting them. The planner picks
-- the sort whenever it believes the batch small, and a batch of new events is exactly what the
-- statistics of the newest partition have not seen yet: measured on a 100,000-event batch, every
-- page of 500 read all 100,000 events (40-190 ms a page, against 1-2 ms for the merge), so relaying
-- a batch cost O(batch²). The functions plan with enable_sort off (the merge is then the only
-- ordered plan) and jit off (a plan costed that high would otherwise be JIT-compiled, ~1 s per call).
-- plpgsql also keeps the plan between calls of a session: no 3 ms of planning per page.
-- The transactions in progress at the batch's start (pg_snapshot_xip) are read one index probe each,
-- up to a page per transaction: as one "txid = ANY(…)" range they made the ordered scan walk every
-- event of the organization.
--
-- In:  the target's batch (snapshots as text), the last (txid, id) done, an organization or NULL
--      (every organization), the page size. Out: the page, in (txid, id) order. Locks: none.
-- Columns: outbox_events_page returns the whole event (webhooks, the events queue);
-- outbox_event_routes only id, txid and organization (dispatch).

CREATE FUNCTION "outbox_events_page"(p_snap_from text, p_snap_to text, p_after_txid bigint, p_after_id bigint, p_organization_id integer, p_limit integer)
RETURNS TABLE (id text, txid text, task_id integer, organization_id integer, workspace_id integer, external_id text, kind text,
               from_status smallint, to_status smallint, reason text, actor text, sweep_id text, request_id text,
               stuck_since timestamptz, created_at timestamptz, details jsonb)
LANGUAGE plpgsql STABLE
SET enable_sort = off
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
  -- The range branch starts after max((xmax(snapFrom) - 1, +inf), (after_txid, after_id)): one row
  -- comparison, which the index scan starts from. As two lower bounds (txid >= xmax AND (txid, id) >
  -- after) it started at xmax and skipped every row done in the pages before: O(pages²) per batch.
  v_xmax_from bigint := pg_snapshot_xmax(p_snap_from::pg_snapshot)::text::bigint;
  v_from_txid bigint := CASE WHEN p_after_txid >= v_xmax_from THEN p_after_txid ELSE v_xmax_from - 1 END;
  v_from_id bigint := CASE WHEN p_after_txid >= v_xmax_from THEN p_after_id ELSE 9223372036854775807 END;
  v_to_txid bigint := pg_snapshot_xmax(p_snap_to::pg_snapshot)::text::bigint;
BEGIN
  IF p_organization_id IS NULL THEN
    RETURN QUERY SELECT * FROM (
        (SELECT in_progress.* FROM pg_snapshot_xip(p_snap_from::pg_snapshot) AS x
         CROSS JOIN LATERAL (
           SELECT e.id::text, e.txid::text, e.task_id, e.organization_id, e.workspace_id, e.external_id, e.kind::text,
           e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.created_at, e.details FROM task_events e
           WHERE e.txid = x::text::bigint AND (e.txid, e.id) > (p_after_txid, p_after_id) AND pg_visible_in_snapshot(e.txid::text::xid8, p_snap_to::pg_snapshot)
           ORDER BY e.txid, e.id LIMIT p_limit) AS in_progress)
        UNION ALL
        (SELECT e.id::text, e.txid::text, e.task_id, e.organization_id, e.workspace_id, e.external_id, e.kind::text,
           e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.created_at, e.details FROM task_events e
         WHERE (e.txid, e.id) > (v_from_txid, v_from_id) AND e.txid < v_to_txid
           AND pg_visible_in_snapshot(e.txid::text::xid8, p_snap_to::pg_snapshot)
         ORDER BY e.txid, e.id LIMIT p_limit)
      ) page ORDER BY page.txid::bigint, page.id::bigint LIMIT p_limit;
  ELSE
    RETURN QUERY SELECT * FROM (
        (SELECT in_progress.* FROM pg_snapshot_xip(p_snap_from::pg_snapshot) AS x
         CROSS JOIN LATERAL (
           SELECT e.id::text, e.txid::text, e.task_id, e.organization_id, e.workspace_id, e.external_id, e.kind::text,
           e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.created_at, e.details FROM task_events e
           WHERE e.organization_id = p_organization_id AND e.txid = x::text::bigint AND (e.txid, e.id) > (p_after_txid, p_after_id) AND pg_visible_in_snapshot(e.txid::text::xid8, p_snap_to::pg_snapshot)
           ORDER BY e.txid, e.id LIMIT p_limit) AS in_progress)
        UNION ALL
        (SELECT e.id::text, e.txid::text, e.task_id, e.organization_id, e.workspace_id, e.external_id, e.kind::text,
           e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.created_at, e.details FROM task_events e
         WHERE e.organization_id = p_organization_id AND (e.txid, e.id) > (v_from_txid, v_from_id) AND e.txid < v_to_txid
           AND pg_visible_in_snapshot(e.txid::text::xid8, p_snap_to::pg_snapshot)
         ORDER BY e.txid, e.id LIMIT p_limit)
      ) page ORDER BY page.txid::bigint, page.id::bigint LIMIT p_limit;
  END IF;
END
$fn$;

CREATE FUNCTION "outbox_event_routes"(p_snap_from text, p_snap_to text, p_after_txid bigint, p_after_id bigint, p_limit integer)
RETURNS TABLE (id text, txid text, organization_id integer)
LANGUAGE plpgsql STABLE
SET enable_sort = off
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
  -- The range branch starts after max((xmax(snapFrom) - 1, +inf), (after_txid, after_id)): one row
  -- comparison, which the index scan starts from. As two lower bounds (txid >= xmax AND (txid, id) >
  -- after) it started at xmax and skipped every row done in the pages before: O(pages²) per batch.
  v_xmax_from bigint := pg_snapshot_xmax(p_snap_from::pg_snapshot)::text::bigint;
  v_from_txid bigint := CASE WHEN p_after_txid >= v_xmax_from THEN p_after_txid ELSE v_xmax_from - 1 END;
  v_from_id bigint := CASE WHEN p_after_txid >= v_xmax_from THEN p_after_id ELSE 9223372036854775807 END;
  v_to_txid bigint := pg_snapshot_xmax(p_snap_to::pg_snapshot)::text::bigint;
BEGIN
  RETURN QUERY SELECT * FROM (
        (SELECT in_progress.* FROM pg_snapshot_xip(p_snap_from::pg_snapshot) AS x
         CROSS JOIN LATERAL (
           SELECT e.id::text, e.txid::text, e.organization_id FROM task_events e
           WHERE e.txid = x::text::bigint AND (e.txid, e.id) > (p_after_txid, p_after_id) AND pg_visible_in_snapshot(e.txid::text::xid8, p_snap_to::pg_snapshot)
           ORDER BY e.txid, e.id LIMIT p_limit) AS in_progress)
        UNION ALL
        (SELECT e.id::text, e.txid::text, e.organization_id FROM task_events e
         WHERE (e.txid, e.id) > (v_from_txid, v_from_id) AND e.txid < v_to_txid
           AND pg_visible_in_snapshot(e.txid::text::xid8, p_snap_to::pg_snapshot)
         ORDER BY e.txid, e.id LIMIT p_limit)
      ) page ORDER BY page.txid::bigint, page.id::bigint LIMIT p_limit;
END
$fn$;
