-- One organization's page of the outbox (webhook delivery) reads that organization's events, by
-- task_events_organization_id_txid_id_idx, whatever the statistics say. Its range branch bounded the
-- page with `(txid, id) > (…)`, which task_events_txid_id_idx serves as well: once autovacuum had
-- analyzed a batch in which the organization held a tenth of the events, the planner took that index
-- and filtered by organization, reading ten events for each one sent (5,000 rows for a page of 500;
-- test/integration/outbox-read-page.test.ts). The bound is now `(organization_id, txid, id) > (…)`:
-- the same rows (the organization is fixed by the equality beside it), an index bound only for the
-- organization's index, so the other would have to start from the beginning of the batch and is
-- never cheaper. The transactions-in-progress branch likewise. Every other line is as before
-- (migration 20261205100000_outbox_events_page).
CREATE OR REPLACE FUNCTION "outbox_events_page"(p_snap_from text, p_snap_to text, p_after_txid bigint, p_after_id bigint, p_organization_id integer, p_limit integer)
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
           WHERE e.organization_id = p_organization_id AND e.txid = x::text::bigint AND (e.organization_id, e.txid, e.id) > (p_organization_id, p_after_txid, p_after_id) AND pg_visible_in_snapshot(e.txid::text::xid8, p_snap_to::pg_snapshot)
           ORDER BY e.txid, e.id LIMIT p_limit) AS in_progress)
        UNION ALL
        (SELECT e.id::text, e.txid::text, e.task_id, e.organization_id, e.workspace_id, e.external_id, e.kind::text,
           e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.created_at, e.details FROM task_events e
         WHERE e.organization_id = p_organization_id AND (e.organization_id, e.txid, e.id) > (p_organization_id, v_from_txid, v_from_id) AND e.txid < v_to_txid
           AND pg_visible_in_snapshot(e.txid::text::xid8, p_snap_to::pg_snapshot)
         ORDER BY e.txid, e.id LIMIT p_limit)
      ) page ORDER BY page.txid::bigint, page.id::bigint LIMIT p_limit;
  END IF;
END
$fn$;
