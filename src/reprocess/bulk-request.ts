// What a bulk reprocess request may contain (docs/reprocess.md, "Bulk reprocess"). Pure.
//
// The selection is either a list of ids in a JSON body — `{ "taskIds": [...] }` or
// `{ "externalIds": [...] }` — or the status list's own filters in the query string, parsed by
// the status list's own schema (TASK_FILTER_SHAPE): what a customer listed with
// GET …/statuslist?stuck=true is what POST …/restartprocessing/bulk?stuck=true selects.
// `dryRun=true` previews, `force=true` skips the guard (audited as forced), as for one task.
// Refused, naming what is wrong: ids and filters together, neither (a bulk of "everything" must
// be asked for with a filter), an unknown field or parameter, a list over MAX_BULK_TASKS.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { TaskStatusFilter } from "../api/read-api/sql/list-task-statuses.js";
import { MAX_EXTERNAL_ID_LENGTH } from "./reprocess-request.js";
import { MAX_ID } from "../platform/ids.js";
import { booleanParam, parseQuery, type Parsed } from "../api/query.js";
import { TASK_FILTER_SHAPE, taskFilterOf } from "../api/read-api/task-status-list.js";
import { apiSchemas } from "../api/read-api/bodies.js";
import { formatIssues, joinIssues } from "../platform/zod-issues.js";
import { CONTROL_ERROR, NO_CONTROL_PATTERN } from "../platform/text-safety.js";

/** The most tasks one bulk may hold (a list, or what a filter matches). */
export const MAX_BULK_TASKS = 50_000;
/** An Idempotency-Key: printable ASCII, 1 to 200 characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

export const BulkQuery = z.strictObject({
  ...TASK_FILTER_SHAPE,
  dryRun: booleanParam("true: answer what the bulk would do (the preview), change nothing.").optional(),
  force: booleanParam("true: skip the reprocess guard for every task (each reprocess is audited as forced).").optional(),
});
const FILTER_KEYS = Object.keys(TASK_FILTER_SHAPE);

const taskId = z.number({ error: "must be a JSON number" }).int({ error: `must be a whole number from 1 to ${MAX_ID}` }).min(1, { error: `must be a whole number from 1 to ${MAX_ID}` }).max(MAX_ID, { error: `must be a whole number from 1 to ${MAX_ID}` });
const externalId = z
  .string({ error: "must be a string" })
  .min(1, { error: `must be 1 to ${MAX_EXTERNAL_ID_LENGTH} characters` })
  .max(MAX_EXTERNAL_ID_LENGTH, { error: `must be 1 to ${MAX_EXTERNAL_ID_LENGTH} characters` })
  .regex(NO_CONTROL_PATTERN, { error: CONTROL_ERROR });
const list = <T extends z.ZodType>(item: T) => z.array(item).min(1, { error: "must not be empty" }).max(MAX_BULK_TASKS, { error: `must hold at most ${MAX_BULK_TASKS} ids; split the bulk` });

export const BulkBody = z
  .strictObject({
    taskIds: list(taskId).optional().meta({ description: `Task ids, at most ${MAX_BULK_TASKS}; applied in this order, a repeated id once.` }),
    externalIds: list(externalId).optional().meta({ description: `External ids, at most ${MAX_BULK_TASKS}; applied in this order, a repeated id once.` }),
  })
  .meta({ description: "Select by ids: exactly one of taskIds or externalIds. Leave the body out to select by the query's filters instead." });

apiSchemas.add(BulkBody, { id: "BulkReprocessIds" });

export type BulkSelection =
  | { kind: "taskIds"; taskIds: number[] }
  | { kind: "externalIds"; externalIds: string[] }
  | { kind: "filter"; filter: TaskStatusFilter };

export interface BulkRequest {
  selection: BulkSelection;
  dryRun: boolean;
  force: boolean;
}

/** The query's filters and flags, and the JSON body (undefined when none was sent). */
export function parseBulkRequest(query: URLSearchParams, body: unknown): Parsed<BulkRequest> {
  const q = parseQuery(BulkQuery, Object.keys(BulkQuery.shape), query, ["status"]);
  if (!q.ok) return q;
  const { dryRun = false, force = false } = q.value;
  const filtered = FILTER_KEYS.filter((key) => q.value[key as keyof typeof q.value] !== undefined);
  if (body === undefined) {
    if (filtered.length === 0) {
      return { ok: false, error: `no selection: send { "taskIds": [...] } or { "externalIds": [...] } as the JSON body, or select by filters in the query (${FILTER_KEYS.join(", ")}); a bulk of every task needs a filter such as changedUntil` };
    }
    return { ok: true, value: { selection: { kind: "filter", filter: taskFilterOf(q.value) }, dryRun, force } };
  }
  if (filtered.length > 0) return { ok: false, error: `give ids in the body or filters in the query, not both (got a body and ${filtered.join(", ")})` };
  const parsed = BulkBody.safeParse(body, { reportInput: true });
  if (!parsed.success) return { ok: false, error: joinIssues(formatIssues(parsed.error, { schema: BulkBody, label: "the body" })) };
  const { taskIds, externalIds } = parsed.data;
  if ((taskIds === undefined) === (externalIds === undefined)) return { ok: false, error: `the body must give exactly one of taskIds or externalIds, got ${taskIds ? "both" : "neither"}` };
  if (taskIds) return { ok: true, value: { selection: { kind: "taskIds", taskIds: [...new Set(taskIds)] }, dryRun, force } };
  return { ok: true, value: { selection: { kind: "externalIds", externalIds: [...new Set(externalIds)] }, dryRun, force } };
}

/** An Idempotency-Key header's value, or why it is refused. */
export function parseIdempotencyKey(value: string | string[] | undefined): Parsed<string> {
  const how = `send a unique Idempotency-Key header (printable ASCII, 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, e.g. a UUID) with each new bulk, and the same one when you retry it`;
  if (value === undefined) return { ok: false, error: `Idempotency-Key header required: a bulk reprocess is destructive and a retried request must not start a second one; ${how}` };
  if (Array.isArray(value) && value.length === 1) value = value[0]!;
  if (Array.isArray(value)) return { ok: false, error: `Idempotency-Key given ${value.length} times; ${how}` };
  if (value.length < 1 || value.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x21-\x7e][\x20-\x7e]*$/.test(value)) return { ok: false, error: `Idempotency-Key is not usable; ${how}` };
  return { ok: true, value };
}

/** What the request asked for, for display (stored with the bulk) and as the base of its hash. */
export function describeSelection(request: Pick<BulkRequest, "selection" | "force">): Record<string, unknown> {
  const { selection } = request;
  if (selection.kind === "taskIds") return { taskIds: selection.taskIds.length, force: request.force };
  if (selection.kind === "externalIds") return { externalIds: selection.externalIds.length, force: request.force };
  const f = selection.filter;
  const filter: Record<string, unknown> = {};
  if (f.statuses !== null) filter.status = [...new Set(f.statuses)].sort((a, b) => a - b);
  if (f.warning !== null) filter.warning = f.warning;
  if (f.stuck !== null) filter.stuck = f.stuck;
  if (f.location !== null) filter.location = f.location;
  if (f.changedSince != null) filter.changedSince = f.changedSince.toISOString();
  if (f.changedUntil != null) filter.changedUntil = f.changedUntil.toISOString();
  return { filter, force: request.force };
}

/**
 * Two requests are "the same" for Idempotency-Key when they select the same way and force alike:
 * the same ids in the same order, or the same filters (however written: `status=41,40` and
 * `status=40&status=41` are one filter). A filter's matches are judged when the bulk is accepted.
 */
export function requestHash(request: Pick<BulkRequest, "selection" | "force">): string {
  const { selection } = request;
  const what = selection.kind === "filter" ? describeSelection(request) : { ...selection, force: request.force };
  return createHash("sha256").update(JSON.stringify(what)).digest("hex");
}
