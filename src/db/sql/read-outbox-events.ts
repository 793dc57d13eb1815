// readOutboxEvents — the next page of one relay target's batch, in (txid, id) order.
//
// In:    the target's position (snapFrom, snapTo: pg_snapshot text; after: the last (txid, id)
//        done in this batch), an organization (webhook targets) or null (the queue), a page size.
// Locks: none (a plain read; the caller holds the target's advisory lock).
// Does:  nothing.
// Out:   up to `limit` events whose transaction is visible in snapTo and not in snapFrom, after
//        `after`, each with the organization, workspace and external id its row holds (written
//        with the event, so an event of a task deleted since is still delivered).
//
// Why two snapshots and not "id > last id": see prisma/migrations/20261201040000_outbox. An event
// whose transaction is visible in snapTo committed before snapTo was taken, so it is visible to
// this statement too; one that is not yet visible there belongs to a later batch. The range on
// txid keeps it an index range scan of task_events_txid_id_idx.
import type pg from "pg";
import type { OutboxEventRow } from "../../events/message.js";

export type Queryable = Pick<pg.ClientBase, "query">;

export interface OutboxPosition {
  snapFrom: string;
  snapTo: string;
  afterTxid: string;
  afterEventId: string;
}

export async function readOutboxEvents(db: Queryable, position: OutboxPosition, organizationId: number | null, limit: number): Promise<OutboxEventRow[]> {
  const { rows } = await db.query<OutboxEventRow>(
    `SELECT e.id::text AS id, e.txid::text AS txid, e.task_id, e.organization_id, e.workspace_id, e.external_id, e.kind::text AS kind,
            e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.created_at, e.details
     FROM task_events e
     WHERE e.txid >= pg_snapshot_xmin($1::pg_snapshot)::text::bigint
       AND e.txid < pg_snapshot_xmax($2::pg_snapshot)::text::bigint
       AND (e.txid, e.id) > ($3::bigint, $4::bigint)
       AND NOT pg_visible_in_snapshot(e.txid::text::xid8, $1::pg_snapshot)
       AND pg_visible_in_snapshot(e.txid::text::xid8, $2::pg_snapshot)
       AND ($5::int IS NULL OR e.organization_id = $5::int)
     ORDER BY e.txid, e.id
     LIMIT $6::int`,
    [position.snapFrom, position.snapTo, position.afterTxid, position.afterEventId, organizationId, limit],
  );
  return rows;
}
