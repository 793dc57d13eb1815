// A bulk reprocess as its readers see it (progress, cancel, the idempotent replay of a request).
import * as Prisma from "../../platform/db/sql.js";

export type BulkState = "running" | "done" | "cancelled";

export interface Bulk {
  id: string;
  organizationId: number;
  state: BulkState;
  force: boolean;
  selection: Record<string, unknown>;
  requestedBy: string;
  total: number;
  applied: number;
  refused: number;
  notFound: number;
  /** Not yet processed; after a cancel, never will be. */
  pending: number;
  createdAt: Date;
  finishedAt: Date | null;
  cancelledBy: string | null;
  requestHash: string;
}

export interface BulkRow {
  id: string;
  organization_id: number;
  state: "RUNNING" | "DONE" | "CANCELLED";
  force: boolean;
  selection: Record<string, unknown>;
  requested_by: string;
  total: number;
  applied: number;
  refused: number;
  not_found: number;
  created_at: Date;
  finished_at: Date | null;
  cancelled_by: string | null;
  request_hash: string;
}

export const BULK_COLUMNS = Prisma.sql`id, organization_id, state::text AS state, force, selection, requested_by, total, applied, refused, not_found, created_at, finished_at, cancelled_by, request_hash`;

export const toBulk = (row: BulkRow): Bulk => ({
  id: row.id,
  organizationId: row.organization_id,
  state: row.state.toLowerCase() as BulkState,
  force: row.force,
  selection: row.selection,
  requestedBy: row.requested_by,
  total: row.total,
  applied: row.applied,
  refused: row.refused,
  notFound: row.not_found,
  pending: row.total - row.applied - row.refused - row.not_found,
  createdAt: row.created_at,
  finishedAt: row.finished_at,
  cancelledBy: row.cancelled_by,
  requestHash: row.request_hash,
});
