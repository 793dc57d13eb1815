// readEventsPage — the next page of one relay target's batch, in (txid, id) order.
//
// In:    the target's position (snapFrom, snapTo: pg_snapshot text; after: the last (txid, id)
//        done in this batch), an organization (its webhook) or null (every organization), the
//        columns wanted ("routing": id, txid, organization only; "full": the whole message row),
//        a page size.
// Locks: none (a plain read).
// Out:   up to `limit` events whose transaction is visible in snapTo and not in snapFrom, after
//        `after`.
//
// Why two snapshots and not "id > last id": see prisma/migrations/20261201040000_outbox. What this
// statement adds: the events "not visible in snapFrom" are read as two index ranges, not one —
// the transactions snapFrom lists as in progress (pg_snapshot_xip: one probe each), and the
// transactions that began after it (txid >= xmax). The one range "txid >= xmin(snapFrom)" it
// replaces began at the oldest transaction open anywhere: one transaction left open for a minute
// made every read rescan a minute of everybody's events. Now an open transaction costs one index
// probe per read and delays only its own events. Each branch is an ordered range scan of
// (organization_id, txid, id) — or (txid, id) for all organizations — stopped by the LIMIT.
import type { OutboxEventRow } from "../message.js";
import type { Queryable } from "./queryable.js";

export interface BatchPosition {
  snapFrom: string;
  snapTo: string;
  afterTxid: string;
  afterEventId: string;
}

export interface RoutingRow {
  id: string;
  txid: string;
  organization_id: number;
}

// The statements live in two plpgsql functions (prisma/migrations/20261205100000_outbox_events_page):
// they plan with enable_sort off, so a page is always a merge of each partition's index stopped by
// the LIMIT, never "read the whole batch and sort it" (what the planner chose for a batch of new
// events its statistics had not seen: 100,000 rows read per page of 500), and keep their plan.
const SQL = {
  full: `SELECT * FROM outbox_events_page($1::text, $2::text, $3::bigint, $4::bigint, $5::int, $6::int)`,
  routing: `SELECT * FROM outbox_event_routes($1::text, $2::text, $3::bigint, $4::bigint, $5::int)`,
};

export async function readEventsPage(db: Queryable, position: BatchPosition, organizationId: number | null, columns: "full", limit: number): Promise<OutboxEventRow[]>;
export async function readEventsPage(db: Queryable, position: BatchPosition, organizationId: null, columns: "routing", limit: number): Promise<RoutingRow[]>;
export async function readEventsPage(db: Queryable, position: BatchPosition, organizationId: number | null, columns: "full" | "routing", limit: number): Promise<(OutboxEventRow | RoutingRow)[]> {
  const batch = [position.snapFrom, position.snapTo, position.afterTxid, position.afterEventId];
  const { rows } = await db.query<OutboxEventRow | RoutingRow>(SQL[columns], columns === "full" ? [...batch, organizationId, limit] : [...batch, limit]);
  return rows;
}
