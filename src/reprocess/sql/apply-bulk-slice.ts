// applyBulkSlice — applies the next few items of one organization's oldest running bulk, within
// the organization's pace, in ONE transaction.
//
// In:    the organization, its pace (ratePerSecond), the most items one slice takes (sliceMax) and
//        the resolver's rows (thresholdRows, as the single-request worker passes them).
// Locks: a transaction-level advisory lock per organization (pg_try_advisory_xact_lock: a replica
//        that finds it taken skips this organization for this tick), so one slice per organization
//        runs at a time across all replicas; the items' task rows (each reprocess statement locks
//        its own, waiting at most SLICE_LOCK_TIMEOUT_MS: a row held elsewhere fails the slice, which
//        is retried next tick); at the end the bulk row (UPDATE … WHERE state = 'RUNNING').
// Pace:  every item the slice processes carries processed_at = now(), the transaction's start —
//        the same instant as the REPROCESSED event the reprocess statement writes in it. Before
//        taking items, the slice counts the organization's items processed in (now() - 1 s, now()]
//        and takes at most ratePerSecond minus that; it also never takes a bulk ahead of its own
//        schedule, ratePerSecond × the seconds since it was accepted. Slices of an organization run
//        one after another (the lock) with non-decreasing now() (a slice whose transaction began
//        before the last slice's does nothing), so every one-second window holds at most
//        ratePerSecond items — across replicas, bulks and restarts, since it is counted from rows.
// Does:  each item through reprocessTask — the same statement and guard as a single request —
//        with request id `<bulkId>:<position>` and details.bulkId; then the items' outcomes and the
//        bulk's counters (DONE when nothing is left). All of it commits together or not at all: a
//        worker killed mid-slice leaves nothing applied, and the next slice applies those items
//        (exactly once: an item's outcome and its task's reprocess are one commit).
// Out:   what the slice did (for the loop's log and metrics).
import type { Db } from "../../platform/db/client.js";
import { reprocessTask, type ReprocessTaskOutcome } from "./reprocess-task.js";
import { decideReprocess } from "../reprocess-guard.js";
import type { ThresholdRows } from "../../rules/resolve.js";
import type { ReprocessTarget } from "../reprocess-request.js";

export interface SliceOptions {
  organizationId: number;
  ratePerSecond: number;
  sliceMax: number;
  thresholds: ThresholdRows;
}

export type SliceResult =
  /** Another replica is applying this organization's slice right now. */
  | { kind: "busy" }
  /** The pace allows nothing now. */
  | { kind: "paced" }
  /** No running bulk. */
  | { kind: "idle" }
  /** The bulk was cancelled while the slice ran: rolled back, nothing applied. */
  | { kind: "cancelled"; bulkId: string }
  | { kind: "processed"; bulkId: string; applied: number; refused: number; notFound: number; done: boolean };

type Outcome = "APPLIED" | "REFUSED" | "NOT_FOUND";

class CancelledMidSlice extends Error {}

/** How long a slice waits for a task row another transaction holds. */
export const SLICE_LOCK_TIMEOUT_MS = 2000;

const PACE_LOCK = (organizationId: number) => `task-watchdog-bulk-reprocess:${organizationId}`;

export async function applyBulkSlice(db: Db, options: SliceOptions): Promise<SliceResult> {
  const { organizationId, ratePerSecond } = options;
  try {
    return await db.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtextextended(${PACE_LOCK(organizationId)}, 0)) AS locked`;
        if (!lock?.locked) return { kind: "busy" } as const;
        // A task row someone else holds fails the slice after this (it is retried next tick) rather than
        // after the connection's lock_timeout: meanwhile the slice holds its earlier tasks' rows.
        await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '${SLICE_LOCK_TIMEOUT_MS}ms'`);
        // A statement of its own, after the lock: its snapshot sees every slice committed before.
        const [pace] = await tx.$queryRaw<{ recent: number; out_of_order: boolean }[]>`
          SELECT count(*)::int AS recent, coalesce(max(processed_at) > now(), false) AS out_of_order
          FROM bulk_reprocess_items
          WHERE organization_id = ${organizationId}::int AND processed_at > now() - interval '1 second'`;
        const budget = Math.min(options.sliceMax, ratePerSecond - (pace?.recent ?? 0));
        if (pace?.out_of_order || budget <= 0) return { kind: "paced" } as const;

        const [bulk] = await tx.$queryRaw<{ id: string; force: boolean; requested_by: string; http_request_id: string | null; left: number; behind: number }[]>`
          -- The schedule capped at the bulk's total: rate × seconds passes int's range after 24.8 days at 1000/s.
          SELECT id, force, requested_by, http_request_id, total - applied - refused - not_found AS left,
                 least(floor(${ratePerSecond}::int * extract(epoch FROM now() - created_at)), total)::int - (applied + refused + not_found) AS behind
          FROM bulk_reprocesses
          WHERE organization_id = ${organizationId}::int AND state = 'RUNNING'
          ORDER BY created_at, id
          LIMIT 1`;
        if (!bulk) return { kind: "idle" } as const;
        const take = Math.min(budget, bulk.behind, bulk.left);
        if (take <= 0 && bulk.left > 0) return { kind: "paced" } as const;

        const items = await tx.$queryRaw<{ position: number; task_id: number | null; external_id: string | null }[]>`
          SELECT position, task_id, external_id FROM bulk_reprocess_items
          WHERE bulk_id = ${bulk.id} AND outcome IS NULL
          ORDER BY position
          LIMIT ${Math.max(take, 0)}::int`;
        const positions: number[] = [];
        const outcomes: Outcome[] = [];
        const reasons: (string | null)[] = [];
        for (const item of items) {
          const target: ReprocessTarget = item.task_id !== null ? { taskId: item.task_id, organizationId } : { externalId: item.external_id!, organizationId };
          const outcome = await reprocessTask(tx, target, {
            requestId: `${bulk.id}:${item.position}`,
            actor: bulk.requested_by,
            force: bulk.force,
            ...(bulk.http_request_id === null ? {} : { httpRequestId: bulk.http_request_id }),
            bulkId: bulk.id,
            thresholds: options.thresholds,
          });
          positions.push(item.position);
          outcomes.push(outcomeOf(outcome));
          reasons.push(reasonOf(outcome));
        }
        const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
        const [applied, refused, notFound] = [count("APPLIED"), count("REFUSED"), count("NOT_FOUND")];
        if (items.length > 0) {
          await tx.$executeRaw`
            UPDATE bulk_reprocess_items i SET outcome = o.outcome::bulk_reprocess_outcome, reason = o.reason, processed_at = now()
            FROM unnest(${positions}::int[], ${outcomes}::text[], ${reasons}::text[]) AS o(position, outcome, reason)
            WHERE i.bulk_id = ${bulk.id} AND i.position = o.position`;
        }
        // Done when nothing is left (also a bulk whose counters and items disagree: nothing pending is done).
        const done = items.length === 0 || items.length >= bulk.left;
        const [updated] = await tx.$queryRaw<{ state: string }[]>`
          UPDATE bulk_reprocesses
          SET applied = applied + ${applied}::int, refused = refused + ${refused}::int, not_found = not_found + ${notFound}::int,
              state = CASE WHEN ${done}::boolean THEN 'DONE'::bulk_reprocess_state ELSE state END,
              finished_at = CASE WHEN ${done}::boolean THEN now() ELSE finished_at END
          WHERE id = ${bulk.id} AND state = 'RUNNING'
          RETURNING state::text`;
        if (!updated) throw new CancelledMidSlice(bulk.id);
        return { kind: "processed", bulkId: bulk.id, applied, refused, notFound, done } as const;
      },
      // A task row locked by someone else is waited for (lock_timeout), never past this.
      { maxWait: 10_000, timeout: 60_000 },
    );
  } catch (error) {
    if (error instanceof CancelledMidSlice) return { kind: "cancelled", bulkId: error.message };
    throw error;
  }
}

function outcomeOf(outcome: ReprocessTaskOutcome): Outcome {
  if (outcome.kind === "notFound") return "NOT_FOUND";
  if (outcome.kind === "conflict") return "REFUSED";
  return "APPLIED";
}

/** The guard's reason, as the single-request worker words it; the not-found message; null when applied. */
function reasonOf(outcome: ReprocessTaskOutcome): string | null {
  if (outcome.kind === "notFound") return outcome.message;
  if (outcome.kind !== "conflict") return null;
  const decision = decideReprocess({ ...outcome, force: false }, `task ${outcome.taskId}`);
  return decision.allowed ? `Conflict: the reprocess guard refused task ${outcome.taskId} (status ${outcome.status})` : decision.reason;
}
