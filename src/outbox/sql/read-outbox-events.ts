// readOutboxEvents — the next page of one relay target's batch, in (txid, id) order.
//
// In:    the target's position (snapFrom, snapTo: pg_snapshot text; after: the last (txid, id)
//        done in this batch), an organization (webhook targets) or null (the queue), a page size.
// Locks: none (a plain read; the caller holds the target's advisory lock).
// Does:  nothing.
// Out:   up to `limit` events whose transaction is visible in snapTo and not in snapFrom, after
//        `after`, each with its task's organization, workspace and external id.
//
// Why two snapshots and not "id > last id": see prisma/migrations/20261201040000_outbox. An event
// whose transaction is visible in snapTo committed before snapTo was taken, so it is visible to
// this statement too; one that is not yet visible there belongs to a later batch. The range on
// txid keeps it an index range scan of task_events_txid_id_idx.
import type pg from "pg";
import type { OutboxEventRow } from "../message.js";

export type Queryable = Pick<pg.ClientBase, "query">;

export interface OutboxPosition {
  snapFrom: string;
  snapTo: string;
  afterTxid: string;
  afterEventId: string;
}

export async function readOutboxEvents(db: Queryable, position: OutboxPosition, organizationId: number | null, limit: number): Promise<OutboxEventRow[]> {
  const { rows } = await db.query<OutboxEventRow>(
    `SELECT e.id::text AS id, e.txid::text AS txid, e.task_id, t.organization_id, t.workspace_id, t.external_id, e.kind::text AS kind,
            e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.created_at, e.details
     FROM task_events e
     -- One primary-key lookup per event, read in index order (OFFSET 0 keeps the planner from
     -- turning it into a join it misjudges: the snapshot functions defeat its row estimates).
     CROSS JOIN LATERAL (SELECT t.organization_id, t.workspace_id, t.external_id FROM tasks t WHERE t.id = e.task_id OFFSET 0) t
     WHERE e.txid >= pg_snapshot_xmin($1::pg_snapshot)::text::bigint
       AND e.txid < pg_snapshot_xmax($2::pg_snapshot)::text::bigint
       AND (e.txid, e.id) > ($3::bigint, $4::bigint)
       AND NOT pg_visible_in_snapshot(e.txid::text::xid8, $1::pg_snapshot)
       AND pg_visible_in_snapshot(e.txid::text::xid8, $2::pg_snapshot)
       AND ($5::int IS NULL OR t.organization_id = $5::int)
     ORDER BY e.txid, e.id
     LIMIT $6::int`,
    [position.snapFrom, position.snapTo, position.afterTxid, position.afterEventId, organizationId, limit],
  );
  return rows;
}
