// countRecentReverts — read-only: the rate hold's history of one status (status_revert_counts,
// written by every revert batch in its own statement): its reverts within the last `window`, and
// over the `baseline` before that. Times are the database clock's minutes, so every replica counts
// the same; a minute counts in the window when it began less than `window` ago.
//
// In:    status, windowSeconds, baselineSeconds.
// Locks: none (a snapshot read). Cost: an index range of the primary key (status, minute): at most
//        one row per minute of window + baseline (1,500 for the defaults).
// Out:   { inWindow, inBaseline }.
//
// lockRevertWindow — a revert batch of a rate-held status takes this transaction-level advisory lock
// (one per status) before it counts the window and reverts at most what is left of the limit, so
// the batches of every replica's sweeps of the status count and write the window one after another:
// together they never pass the limit (a batch's statement starts after the lock, so its snapshot
// sees every batch committed before).
import type { RevertHistory } from "../sweep-plan.js";
import type { Queries } from "../../platform/db/client.js";

export async function lockRevertWindow(tx: Pick<Queries, "$queryRaw">, status: number): Promise<void> {
  await tx.$queryRaw`SELECT true AS locked FROM pg_advisory_xact_lock(hashtextextended(${`task-watchdog-rate-hold:${status}`}, 0))`;
}

export async function countRecentReverts(db: Pick<Queries, "$queryRaw">, status: number, windowSeconds: number, baselineSeconds: number): Promise<RevertHistory> {
  const [row] = await db.$queryRaw<{ in_window: number; in_baseline: number }[]>`
    SELECT coalesce(sum(r.reverts) FILTER (WHERE r.minute > now() - ${windowSeconds}::int * interval '1 second'), 0)::int AS in_window,
           coalesce(sum(r.reverts) FILTER (WHERE r.minute <= now() - ${windowSeconds}::int * interval '1 second'), 0)::int AS in_baseline
    FROM status_revert_counts r
    WHERE r.status = ${status}::smallint AND r.minute > now() - ${windowSeconds + baselineSeconds}::int * interval '1 second'`;
  return { inWindow: row?.in_window ?? 0, inBaseline: row?.in_baseline ?? 0 };
}
