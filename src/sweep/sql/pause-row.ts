// The columns of sweep_pauses every pause statement returns, and their mapping to the domain's Pause.
import * as Prisma from "../../platform/db/sql.js";
import type { Pause } from "../pause.js";

export const PAUSE_COLUMNS = Prisma.raw(`id::text AS id, status, reason, paused_by, paused_at, expires_at, ended_at, ended_by, ended_how::text AS ended_how`);

export interface PauseRow {
  id: string;
  status: number | null;
  reason: string;
  paused_by: string;
  paused_at: Date;
  expires_at: Date | null;
  ended_at: Date | null;
  ended_by: string | null;
  ended_how: Pause["endedHow"];
}

export const toPause = (r: PauseRow): Pause => ({
  id: r.id,
  status: r.status,
  reason: r.reason,
  pausedBy: r.paused_by,
  pausedAt: r.paused_at,
  expiresAt: r.expires_at,
  endedAt: r.ended_at,
  endedBy: r.ended_by,
  endedHow: r.ended_how,
});

/**
 * The SET of an open pause being ended now: a pause already past expires_at (nobody noticed yet)
 * is recorded as EXPIRED at its expiry, whatever ends it; any other as `how` by `by`.
 */
export const endPauseSet = (how: "RESUMED" | "REPLACED", by: string) => Prisma.sql`
  ended_at  = CASE WHEN expires_at <= statement_timestamp() THEN expires_at ELSE statement_timestamp() END,
  ended_how = (CASE WHEN expires_at <= statement_timestamp() THEN 'EXPIRED' ELSE ${how}::text END)::sweep_pause_end,
  ended_by  = CASE WHEN expires_at <= statement_timestamp() THEN NULL ELSE ${by}::text END`;
