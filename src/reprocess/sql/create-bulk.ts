// createBulk — accepts a bulk reprocess: the bulk row and its selection snapshot, or the bulk an
// earlier request with the same Idempotency-Key created, or nothing when the organization already
// runs as many bulks as it may (BULK_REPROCESS_MAX_RUNNING).
//
// In:    the organization, the Idempotency-Key and the request's hash, what was asked (display),
//        force, the actor, the HTTP request id, and the items in the order they will be applied:
//        task ids, or external ids (looked up when applied, as one request by external id is);
//        the most bulks the organization may have running.
// Locks: a transaction-level advisory lock per organization (waited for), so an organization's
//        starts run one after another across replicas: two starts at the limit minus one cannot
//        both count the same running bulks and both insert. The statements after it see every
//        bulk started before (each statement takes its own snapshot).
// Does:  in one transaction — the bulk the key already started, if any, is the answer (so a retry
//        is never refused by the cap); else, with fewer than maxRunning bulks of the organization
//        running, inserts the bulk (RUNNING) and one item per task (ON CONFLICT on the key's unique
//        index: a starter without the lock, a replica of an earlier version, may have inserted it).
// Out:   { created: true, bulk }; { created: false, bulk } (the key's earlier bulk: the caller
//        compares its request hash); { created: false, full } (the running bulks, counted); or
//        { created: false, busy: true }: the lock was waited for past the connection's lock_timeout
//        (another start of the organization holds it), nothing was started — try again.
import type { Db } from "../../platform/db/client.js";
import { sqlState } from "../../platform/db/statement-error.js";
import { BULK_COLUMNS, toBulk, type Bulk, type BulkRow } from "./bulk-row.js";
import { runningBulks, type RunningBulks } from "./find-bulk.js";

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
const LOCK_NOT_AVAILABLE = "55P03";

/** The start lock was not had within lock_timeout: told apart here, not by a global class of lock timeouts (the sweep's holds rely on theirs). */
class StartLockBusy extends Error {
  override name = "StartLockBusy";
}

export async function createBulk(db: Db, bulk: NewBulk, maxRunning: number): Promise<CreatedBulk> {
  const taskIds = "taskIds" in bulk.items ? bulk.items.taskIds : null;
  const externalIds = "externalIds" in bulk.items ? bulk.items.externalIds : null;
  const total = (taskIds ?? externalIds ?? []).length;
  return db.$transaction(
    async (tx): Promise<CreatedBulk> => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${START_LOCK(bulk.organizationId)}, 0))`.catch((error: unknown) => {
        throw sqlState(error) === LOCK_NOT_AVAILABLE ? new StartLockBusy("another start of the organization holds its start lock", { cause: error }) : error;
      });
      const [earlier] = await tx.$queryRaw<BulkRow[]>`
        SELECT ${BULK_COLUMNS} FROM bulk_reprocesses WHERE organization_id = ${bulk.organizationId}::int AND idempotency_key = ${bulk.idempotencyKey}`;
      if (earlier) return { created: false, bulk: toBulk(earlier) };
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
      const [raced] = await tx.$queryRaw<BulkRow[]>`
        SELECT ${BULK_COLUMNS} FROM bulk_reprocesses WHERE organization_id = ${bulk.organizationId}::int AND idempotency_key = ${bulk.idempotencyKey}`;
      if (!raced) throw new Error("createBulk: the Idempotency-Key conflicted but no bulk carries it");
      return { created: false, bulk: toBulk(raced) };
    },
    // The lock is waited for at most the connection's lock_timeout; 50,000 items insert in about a second.
    { timeout: 60_000 },
  ).catch((error: unknown) => {
    if (error instanceof StartLockBusy) return { created: false as const, busy: true as const };
    throw error;
  });
}
