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

const FULL = `e.id::text AS id, e.txid::text AS txid, e.task_id, e.organization_id, e.workspace_id, e.external_id, e.kind::text AS kind,
  e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.created_at, e.details`;
const ROUTING = `e.id::text AS id, e.txid::text AS txid, e.organization_id`;

function pageSql(columns: string, byOrganization: boolean): string {
  const organization = byOrganization ? "e.organization_id = $5::int AND" : "$5::int IS NULL AND";
  const common = `AND (e.txid, e.id) > ($3::bigint, $4::bigint) AND pg_visible_in_snapshot(e.txid::text::xid8, $2::pg_snapshot)
    ORDER BY e.txid, e.id LIMIT $6::int`;
  return `SELECT * FROM (
    (SELECT ${columns} FROM task_events e
     WHERE ${organization} e.txid = ANY (ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip($1::pg_snapshot) AS x)) ${common})
    UNION ALL
    (SELECT ${columns} FROM task_events e
     WHERE ${organization} e.txid >= pg_snapshot_xmax($1::pg_snapshot)::text::bigint AND e.txid < pg_snapshot_xmax($2::pg_snapshot)::text::bigint ${common})
  ) page ORDER BY txid::bigint, id::bigint LIMIT $6::int`;
}

const SQL = {
  full: { all: pageSql(FULL, false), organization: pageSql(FULL, true) },
  routing: { all: pageSql(ROUTING, false), organization: pageSql(ROUTING, true) },
};

export async function readEventsPage(db: Queryable, position: BatchPosition, organizationId: number | null, columns: "full", limit: number): Promise<OutboxEventRow[]>;
export async function readEventsPage(db: Queryable, position: BatchPosition, organizationId: number | null, columns: "routing", limit: number): Promise<RoutingRow[]>;
export async function readEventsPage(db: Queryable, position: BatchPosition, organizationId: number | null, columns: "full" | "routing", limit: number): Promise<(OutboxEventRow | RoutingRow)[]> {
  const sql = SQL[columns][organizationId === null ? "all" : "organization"];
  const { rows } = await db.query<OutboxEventRow | RoutingRow>(sql, [position.snapFrom, position.snapTo, position.afterTxid, position.afterEventId, organizationId, limit]);
  return rows;
}
