// findPauses — read-only: the pauses in force now (and, on request, the latest ended ones), for
// metrics, /health/sweeps and `watchdog status`. Writes nothing: an expired pause nobody has
// noticed yet is simply not in force (the next sweep records its expiry).
//
// In:    recent = how many ended pauses to add, newest first (0 for none).
// Locks: none (a snapshot read).
// Out:   open: in force by the database clock; recent: the last `recent` ended or expired pauses.
import type { Pause } from "../pause.js";
import type { Db } from "../../platform/db/client.js";
import { PAUSE_COLUMNS, toPause, type PauseRow } from "./pause-row.js";

export async function findPauses(db: Db, recent = 0): Promise<{ open: Pause[]; recent: Pause[] }> {
  const rows = await db.$queryRaw<(PauseRow & { open: boolean })[]>`
    SELECT ${PAUSE_COLUMNS}, true AS open FROM sweep_pauses
    WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > now())
    UNION ALL
    (SELECT ${PAUSE_COLUMNS}, false AS open FROM sweep_pauses
     WHERE ${recent}::int > 0 AND NOT (ended_at IS NULL AND (expires_at IS NULL OR expires_at > now()))
     ORDER BY paused_at DESC, id DESC LIMIT ${recent}::int)`;
  return { open: rows.filter((r) => r.open).map(toPause), recent: rows.filter((r) => !r.open).map(toPause) };
}
