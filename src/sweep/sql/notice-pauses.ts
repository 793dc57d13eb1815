// noticePauses — the sweep's one read of the pause state, at the start of every sweep on every
// replica. Also records the expiry of pauses whose end has passed (the audit's "EXPIRED" row).
//
// In:    nothing.
// Locks: the UPDATE row-locks only open pauses already past expires_at (rare; a quiet sweep
//        updates nothing). Two replicas noticing the same expiry: the second re-checks the row after
//        the first commits, finds it ended and skips it, so each expiry is reported once.
// Does:  open pauses past expires_at (database clock) → ended_at = expires_at, ended_how = EXPIRED.
// Out:   the open pauses in force now, and the ones this call found expired.
//        Cost: a scan of the partial index sweep_pauses_open_scope_key, i.e. of the open pauses.
import type { Pause } from "../pause.js";
import type { Db } from "../../platform/db/client.js";
import { PAUSE_COLUMNS, toPause, type PauseRow } from "./pause-row.js";

export async function noticePauses(db: Db): Promise<{ open: Pause[]; expired: Pause[] }> {
  // The main SELECT sees the table as it was before the CTE's UPDATE: the rows it expires are
  // excluded by `expires_at > now()`, and returned by the CTE instead.
  const rows = await db.$queryRaw<(PauseRow & { expired: boolean })[]>`
    WITH expired AS (
      UPDATE sweep_pauses SET ended_at = expires_at, ended_how = 'EXPIRED'
      WHERE ended_at IS NULL AND expires_at <= now()
      RETURNING ${PAUSE_COLUMNS}
    )
    SELECT ${PAUSE_COLUMNS}, false AS expired FROM sweep_pauses
    WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > now())
    UNION ALL
    SELECT *, true AS expired FROM expired`;
  return { open: rows.filter((r) => !r.expired).map(toPause), expired: rows.filter((r) => r.expired).map(toPause) };
}
