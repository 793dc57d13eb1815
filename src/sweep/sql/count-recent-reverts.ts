// countRecentReverts — read-only: the rate hold's history of one status (status_revert_counts,
// written by every revert batch in its own statement): its reverts within the last `window`, and
// over the `baseline` before that. Times are the database clock's minutes, so every replica counts
// the same; a minute counts in the window when it began less than `window` ago.
//
// In:    status, windowSeconds, baselineSeconds.
// Locks: none (a snapshot read). Cost: an index range of the primary key (status, minute): at most
//        one row per minute of window + baseline (1,500 for the defaults).
// Out:   { inWindow, inBaseline }.
import type { RevertHistory } from "../sweep-plan.js";
import type { Db } from "../../platform/db/client.js";

export async function countRecentReverts(db: Db, status: number, windowSeconds: number, baselineSeconds: number): Promise<RevertHistory> {
  const [row] = await db.$queryRaw<{ in_window: number; in_baseline: number }[]>`
    SELECT coalesce(sum(r.reverts) FILTER (WHERE r.minute > now() - ${windowSeconds}::int * interval '1 second'), 0)::int AS in_window,
           coalesce(sum(r.reverts) FILTER (WHERE r.minute <= now() - ${windowSeconds}::int * interval '1 second'), 0)::int AS in_baseline
    FROM status_revert_counts r
    WHERE r.status = ${status}::smallint AND r.minute > now() - ${windowSeconds + baselineSeconds}::int * interval '1 second'`;
  return { inWindow: row?.in_window ?? 0, inBaseline: row?.in_baseline ?? 0 };
}
