// outboxStats — what the outbox gauges show, in one statement.
//
// In:    the targets to count (queue, dispatch: those this deployment relays), a cap.
// Locks: none.
// Out:   per target, the committed events past its position (counted up to `cap`) and the age of the
//        oldest; the webhook organizations with undelivered events and the longest one has had them.
// Cost:  the events past each position, up to `cap` (the same two index ranges as readEventsPage),
//        and the pending organizations' rows (partial index): never organizations x history.
import type { Queryable } from "./queryable.js";

export interface OutboxStats {
  targets: { target: string; pending: number; oldestAgeSeconds: number }[];
  pendingOrganizations: number;
}

export async function outboxStats(db: Queryable, cap: number, targets: readonly string[]): Promise<OutboxStats> {
  const { rows } = await db.query<{ target: string; pending: number; oldest: number | null }>(
    `SELECT c.target, p.pending, p.oldest
     FROM outbox_cursors c
     CROSS JOIN LATERAL (
       SELECT count(*)::int AS pending, extract(epoch FROM now() - min(x.created_at))::float8 AS oldest FROM (
         SELECT e.created_at FROM task_events e
         WHERE (e.txid = ANY (ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(c.snap_from::pg_snapshot) AS x))
                OR e.txid >= pg_snapshot_xmax(c.snap_from::pg_snapshot)::text::bigint)
           AND (c.snap_to IS NULL OR NOT pg_visible_in_snapshot(e.txid::text::xid8, c.snap_to::pg_snapshot)
                OR (e.txid, e.id) > (c.after_txid, c.after_event_id))
         LIMIT $1::int) x
     ) p
     WHERE c.target = ANY($2::text[])
     UNION ALL
     SELECT 'webhook', count(*)::int, extract(epoch FROM now() - min(pending_since))::float8 FROM outbox_cursors WHERE pending`,
    [cap, targets],
  );
  const webhook = rows.find((r) => r.target === "webhook");
  return {
    // The webhook row's age is the longest an organization has waited; its count is of organizations, shown apart.
    targets: rows.map((r) => ({ target: r.target, pending: r.target === "webhook" ? 0 : r.pending, oldestAgeSeconds: r.oldest ?? 0 })),
    pendingOrganizations: webhook?.pending ?? 0,
  };
}
