// createBulk — accepts a bulk reprocess: the bulk row and its selection snapshot, or the bulk an
// earlier request with the same Idempotency-Key created, or nothing when the organization already
// runs as many bulks as it may (BULK_REPROCESS_MAX_RUNNING) or another start of it is under way.
//
// In:    the organization, the Idempotency-Key and the request's hash, what was asked (display),
//        force, the actor, the HTTP request id, and the items in the order they will be applied:
//        task ids, or external ids (looked up when applied, as one request by external id is);
//        the most bulks the organization may have running.
// Locks: a transaction-level advisory lock per organization, tried, never waited for: an
//        organization's starts run one at a time across replicas, so two starts at the limit minus
//        one cannot both count the same running bulks and both insert. A start that finds it taken
//        gives its connection back at once: waiting (inserting 50,000 items takes about a second),
//        a burst of one organization's starts would hold the whole pool and stall every other
//        organization's requests. The statements after it see every bulk started before (each
//        statement takes its own snapshot).
// Does:  in one transaction — the bulk the key already started, if any, is the answer (so a retry
//        is never refused by the cap, nor by the lock once that bulk is committed); else, with fewer
//        than maxRunning bulks of the organization running, inserts the bulk (RUNNING) and one item
//        per task (ON CONFLICT on the key's unique index: a starter without the lock, a replica of
//        an earlier version, may have inserted it).
// Out:   { created: true, bulk }; { created: false, bulk } (the key's earlier bulk: the caller
//        compares its request hash); { created: false, full } (the running bulks, counted); or
//        { created: false, busy: true }: another start of the organization holds the lock, nothing
//        was started — try again in a moment (START_RETRY_AFTER_SECONDS).
import type { Db } from "../../platform/db/client.js";
import { BULK_COLUMNS, toBulk, type Bulk, type BulkRow } from "./bulk-row.js";
import { findBulkByKey, runningBulks, type RunningBulks } from "./find-bulk.js";

export interface NewBulk {
  organizationId: number;
  idempotencyKey: string;
  requestHash: string;
  selection: Record<string, unknown>;
  force: boolean;
  requestedBy: string;
  httpRequestId: string | null;
  items: { taskIds: number[] } | { externalIds: string[] };
}

export type CreatedBulk = { created: true; bulk: Bulk } | { created: false; bulk: Bulk } | { created: false; full: RunningBulks } | { created: false; busy: true };

const START_LOCK = (organizationId: number) => `task-watchdog-bulk-reprocess-start:${organizationId}`;

/**
 * When a start refused for the lock should come again (HTTP Retry-After, the CLI's words): the
 * holder inserts at most 50,000 items, about a second, then lets go.
 */
export const START_RETRY_AFTER_SECONDS = 2;

export async function createBulk(db: Db, bulk: NewBulk, maxRunning: number): Promise<CreatedBulk> {
  const taskIds = "taskIds" in bulk.items ? bulk.items.taskIds : null;
  const externalIds = "externalIds" in bulk.items ? bulk.items.externalIds : null;
  const total = (taskIds ?? externalIds ?? []).length;
  return db.$transaction(
    async (tx): Promise<CreatedBulk> => {
      const [{ locked }] = (await tx.$queryRaw<{ locked: boolean }[]>`
        SELECT pg_try_advisory_xact_lock(hashtextextended(${START_LOCK(bulk.organizationId)}, 0)) AS locked`) as [{ locked: boolean }];
      const earlier = await findBulkByKey(tx, bulk.organizationId, bulk.idempotencyKey);
      // Without the lock the key's bulk is still the answer if committed by now (its own start may
      // have finished since askBulk looked); only a new bulk needs the lock.
      if (earlier) return { created: false, bulk: earlier };
      if (!locked) return { created: false, busy: true };
      const running = await runningBulks(tx, bulk.organizationId);
      if (running.count >= maxRunning) return { created: false, full: running };
      const [inserted] = await tx.$queryRaw<BulkRow[]>`
        WITH bulk AS (
          INSERT INTO bulk_reprocesses (organization_id, idempotency_key, request_hash, selection, force, requested_by, http_request_id, total)
          VALUES (${bulk.organizationId}::int, ${bulk.idempotencyKey}, ${bulk.requestHash}, ${JSON.stringify(bulk.selection)}::jsonb, ${bulk.force}::boolean,
                  ${bulk.requestedBy}, ${bulk.httpRequestId}::text, ${total}::int)
          ON CONFLICT (organization_id, idempotency_key) DO NOTHING
          RETURNING ${BULK_COLUMNS}
        ), items AS (
          INSERT INTO bulk_reprocess_items (bulk_id, position, organization_id, task_id, external_id)
          SELECT bulk.id, s.ord::int, ${bulk.organizationId}::int, s.task_id, s.external_id
          FROM bulk, unnest(${taskIds}::int[], ${externalIds}::text[]) WITH ORDINALITY AS s(task_id, external_id, ord)
        )
        SELECT * FROM bulk`;
      if (inserted) return { created: true, bulk: toBulk(inserted) };
      // Only a starter that takes no lock (a replica of a version before it, during a rolling upgrade) gets here.
      const raced = await findBulkByKey(tx, bulk.organizationId, bulk.idempotencyKey);
      if (!raced) throw new Error("createBulk: the Idempotency-Key conflicted but no bulk carries it");
      return { created: false, bulk: raced };
    },
    // Inserting 50,000 items takes about a second; the lock is never waited for.
    { timeout: 60_000 },
  );
}
