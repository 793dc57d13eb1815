// The bulk reprocess endpoints, next to PATCH …/restartprocessing and with its tokens:
//
//   POST …/sdtask/restartprocessing/bulk[?filters][&dryRun=true][&force=true]   body: { taskIds } | { externalIds } | none
//        200 the preview (dryRun); 202 accepted (the bulk, Location); 202 again for the same
//        Idempotency-Key and request (Idempotent-Replayed: true); 400 a bad parameter, body or key;
//        401; 409 the organization already has BULK_REPROCESS_MAX_RUNNING bulks running (a retry of
//        a started bulk is still its 202); 422 the same key with another request, a selection over
//        MAX_BULK_TASKS, or none, or a filter checked task by task over more than BULK_CANDIDATE_BUDGET tasks;
//        503 (Retry-After: 2) another start of the organization holds its start lock: answered at
//        once, not waited for (a burst of one organization's starts must not hold the pool).
//   GET  …/sdtask/restartprocessing/bulk?bulkId=…          200 its progress; 404
//   GET  …/sdtask/restartprocessing/bulk/items?bulkId=…[&outcome=…][&limit=…][&cursor=…]   200 one page of its tasks; 404
//   POST …/sdtask/restartprocessing/bulk/cancel?bulkId=…   200 cancelled (or already); 409 already done; 404
//
// Another organization's bulk is a 404, like a task of another organization.
import { z } from "zod";
import type { Authenticate } from "./authenticate.js";
import type { Db } from "../platform/db/client.js";
import type { Rule } from "../rules/rules.js";
import { authenticate, callerAndQuery } from "./read-api/caller.js";
import { limitParam } from "./query.js";
import { cursorParam, encodeCursor } from "./read-api/cursor.js";
import { listBulkItems } from "../reprocess/sql/list-bulk-items.js";
import { json, refusal } from "./read-api/responses.js";
import type { Handler, Route } from "./types.js";
import { parseJsonBody } from "./server.js";
import { presentBulk } from "../reprocess/bulk-bodies.js";
import { MAX_BULK_TASKS, parseBulkRequest, parseIdempotencyKey } from "../reprocess/bulk-request.js";
import { askBulk, startInProgressError, tooManyRunningError } from "../reprocess/bulk-service.js";
import { cancelBulk } from "../reprocess/sql/cancel-bulk.js";
import { START_RETRY_AFTER_SECONDS } from "../reprocess/sql/create-bulk.js";
import { findBulk } from "../reprocess/sql/find-bulk.js";

export const BULK_REPROCESS_PATH = "/api/v1.0/external/sdtask/restartprocessing/bulk";
export const BULK_CANCEL_PATH = `${BULK_REPROCESS_PATH}/cancel`;
export const BULK_ITEMS_PATH = `${BULK_REPROCESS_PATH}/items`;

export interface BulkHttpDeps {
  /** The one authentication of the customer API. */
  authenticate: Authenticate;
  db: Db;
  rules: readonly Rule[];
  /** BULK_REPROCESS_MAX_RUNNING. */
  maxRunning: number;
  nudge?: () => void;
}

export const NO_SUCH_BULK = "no such bulk reprocess in your organization";

export const BulkIdQuery = z.strictObject({
  bulkId: z
    .string()
    .regex(/^bulk_[0-9a-f]{32}$/, { error: 'must be a bulk id as the 202 gave it ("bulk_" and 32 hex digits)' })
    .meta({ description: "The bulk's id, from the 202 that accepted it." }),
});

export const BulkItemsQuery = z.strictObject({
  ...BulkIdQuery.shape,
  outcome: z.enum(["applied", "refused", "not_found", "pending"], { error: 'must be one of "applied", "refused", "not_found", "pending"' }).optional().meta({ description: "Only the tasks with this outcome." }),
  limit: limitParam(1000, 100),
  cursor: cursorParam("bulkItems", BigInt(MAX_BULK_TASKS)),
});

/** Who asks, for the audit trail: the organization and the token's fingerprint (never the token), as restartprocessing names it. */
const actorOf = (caller: { organizationId: number; fingerprint: string }) => `api:org-${caller.organizationId}:${caller.fingerprint}`;

export function bulkRoutes(deps: BulkHttpDeps): Route[] {
  return [
    // Its body (up to 2 MiB of ids) is parsed only once the token is known: "text", not "json".
    { method: "POST", path: BULK_REPROCESS_PATH, handler: requestBulkHandler(deps), body: "text" },
    { method: "GET", path: BULK_REPROCESS_PATH, handler: bulkProgressHandler(deps) },
    { method: "GET", path: BULK_ITEMS_PATH, handler: bulkItemsHandler(deps) },
    { method: "POST", path: BULK_CANCEL_PATH, handler: cancelBulkHandler(deps) },
  ];
}

function requestBulkHandler(deps: BulkHttpDeps): Handler {
  return async (input) => {
    const caller = await authenticate(deps.authenticate, input.headers);
    if (!caller.ok) return caller.refusal;
    const body = parseJsonBody(typeof input.body === "string" ? input.body : "", input.headers["content-type"]);
    if (!body.ok) return body.refusal;
    const parsed = parseBulkRequest(input.query, body.body);
    if (!parsed.ok) return refusal(400, parsed.error);
    let idempotencyKey: string | undefined;
    if (!parsed.value.dryRun) {
      const key = parseIdempotencyKey(input.headersDistinct?.["idempotency-key"] ?? input.headers["idempotency-key"]);
      if (!key.ok) return refusal(400, key.error);
      idempotencyKey = key.value;
    }
    const answer = await askBulk(deps, {
      organizationId: caller.organizationId,
      request: parsed.value,
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      requestedBy: actorOf(caller),
      ...(input.requestId ? { httpRequestId: input.requestId } : {}),
    });
    switch (answer.kind) {
      case "preview":
        return json({ dryRun: true, ...answer.preview });
      case "unprocessable":
        return refusal(422, answer.error);
      case "keyReused":
        return refusal(422, answer.error);
      case "tooManyRunning":
        return refusal(
          409,
          tooManyRunningError(answer, "your organization", {
            follow: `GET ${BULK_REPROCESS_PATH}?bulkId=<bulkId>`,
            cancel: `POST ${BULK_CANCEL_PATH}?bulkId=<bulkId>`,
            retry: "send this request again with the same Idempotency-Key",
          }),
        );
      case "startInProgress":
        return refusal(503, startInProgressError("your organization", `send this request again with the same Idempotency-Key after Retry-After (${START_RETRY_AFTER_SECONDS} s)`), {
          "retry-after": String(START_RETRY_AFTER_SECONDS),
        });
      case "accepted":
        return {
          status: 202,
          headers: { location: `${BULK_REPROCESS_PATH}?bulkId=${answer.bulk.id}`, "cache-control": "no-store", ...(answer.replayed ? { "idempotent-replayed": "true" } : {}) },
          body: presentBulk(answer.bulk, answer.preview),
        };
    }
  };
}

function bulkProgressHandler(deps: BulkHttpDeps): Handler {
  return async (input) => {
    const request = await callerAndQuery(deps.authenticate, input, BulkIdQuery);
    if (!request.ok) return request.refusal;
    const bulk = await findBulk(deps.db, request.caller.organizationId, request.query.bulkId);
    return bulk ? json(presentBulk(bulk)) : refusal(404, NO_SUCH_BULK);
  };
}

function bulkItemsHandler(deps: BulkHttpDeps): Handler {
  return async (input) => {
    const request = await callerAndQuery(deps.authenticate, input, BulkItemsQuery);
    if (!request.ok) return request.refusal;
    const q = request.query;
    const bulk = await findBulk(deps.db, request.caller.organizationId, q.bulkId);
    if (!bulk) return refusal(404, NO_SUCH_BULK);
    const page = await listBulkItems(deps.db, bulk.id, q.outcome ?? null, Number(q.cursor ?? 0n), q.limit);
    const last = page.items.at(-1);
    return json({
      items: page.items.map((i) => ({ ...i, processedAt: i.processedAt ? i.processedAt.toISOString() : null })),
      nextCursor: page.more && last ? encodeCursor("bulkItems", last.position) : null,
    });
  };
}

function cancelBulkHandler(deps: BulkHttpDeps): Handler {
  return async (input) => {
    const request = await callerAndQuery(deps.authenticate, input, BulkIdQuery);
    if (!request.ok) return request.refusal;
    const { caller } = request;
    const result = await cancelBulk(deps.db, caller.organizationId, request.query.bulkId, actorOf(caller));
    if (!result) return refusal(404, NO_SUCH_BULK);
    if (!result.cancelled && result.bulk.state === "done") {
      return { ...refusal(409, `bulk ${result.bulk.id} is already done (${result.bulk.applied} applied, ${result.bulk.refused} refused, ${result.bulk.notFound} not found): nothing to cancel`) };
    }
    return json(presentBulk(result.bulk));
  };
}
