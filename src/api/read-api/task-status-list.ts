// GET /api/v1.0/external/sdtask/statuslist?status=…&warning=…&stuck=…&location=…&changedSince=…&changedUntil=…&limit=…&cursor=…
// Mirrors the platform's documented "GET Task Status List Paginated" (and, by following
// nextCursor to the end, "GET Task Status List"): the token's organization's tasks, filtered,
// in id order, one page at a time. Keyset pagination: a task that exists throughout is listed
// exactly once over all pages, however tasks change status between the calls.
import { z } from "zod";
import { listTaskStatuses, stuckLookup, type TaskStatusFilter } from "./sql/list-task-statuses.js";
import { MAX_ID } from "../../platform/ids.js";
import { findStatus } from "../../rules/status.js";
import { stuckThresholds } from "../../rules/stuck.js";
import type { Handler } from "../types.js";
import { callerAndQuery } from "./caller.js";
import { cursorParam, encodeCursor } from "./cursor.js";
import type { ReadApiDeps } from "./deps.js";
import { presentTask } from "./present.js";
import { booleanParam, limitParam, safeText } from "../query.js";
import { json } from "./responses.js";

export const TASK_STATUS_LIST_PATH = "/api/v1.0/external/sdtask/statuslist";
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
const MAX_STATUSES = 50;
const SMALLINT_MAX = 32_767;

/** A status code (any, a newer platform's too) or a known name, case-insensitive. */
const statusValue = safeText()
  .transform((text, ctx) => {
    if (/^[0-9]{1,5}$/.test(text) && Number(text) <= SMALLINT_MAX) return Number(text);
    const known = findStatus(text);
    if (known && !/^\s*[0-9]/.test(text)) return known.code;
    ctx.addIssue({ code: "custom", message: 'must be a TaskStatus code or name, e.g. 41 or "ProcessingInProgress"', input: text });
    return z.NEVER;
  });

/** INBOX or HISTORY, case-insensitive like status names. */
const LOCATIONS = ["INBOX", "HISTORY"] as const;
const locationValue = safeText().transform((text, ctx) => {
  const location = LOCATIONS.find((l) => l === text.toUpperCase());
  if (location) return location;
  ctx.addIssue({ code: "custom", message: 'must be one of "INBOX", "HISTORY" (any case)', input: text });
  return z.NEVER;
});

/** An instant with its offset (2026-12-01T14:00:00Z, 2026-12-01T15:00:00+01:00). */
const instantParam = (description: string) =>
  z.iso
    .datetime({ offset: true, error: "must be an ISO 8601 date-time with a time zone, e.g. 2026-12-01T14:00:00Z" })
    .transform((text) => new Date(text))
    .meta({ description });

/** The filters of the status list; a bulk reprocess selects its tasks with the same ones (src/reprocess/bulk-request.ts). */
export const TASK_FILTER_SHAPE = {
  status: z
    .array(statusValue)
    .min(1)
    .max(MAX_STATUSES, { error: `must list at most ${MAX_STATUSES} statuses` })
    .optional()
    .meta({ description: "Only tasks in these statuses: codes or names, repeated (status=41&status=40) or comma-separated (status=41,QueuedForProcessing)." }),
  warning: booleanParam("Only tasks with (true) or without (false) a warning.").optional(),
  stuck: booleanParam("Only tasks that are (true) or are not (false) stuck now by the effective rules.").optional(),
  location: locationValue.optional().meta({ description: "Only tasks in the inbox or in history: INBOX or HISTORY, in any case (like status names)." }),
  changedSince: instantParam("Only tasks whose status changed at or after this instant (ISO 8601 with a time zone).").optional(),
  changedUntil: instantParam("Only tasks whose status changed before this instant (ISO 8601 with a time zone).").optional(),
};

/** The filter the status list's SQL takes, from the parsed parameters. */
export function taskFilterOf(q: { status?: number[] | undefined; warning?: boolean | undefined; stuck?: boolean | undefined; location?: "INBOX" | "HISTORY" | undefined; changedSince?: Date | undefined; changedUntil?: Date | undefined }): TaskStatusFilter {
  return { statuses: q.status ?? null, warning: q.warning ?? null, location: q.location ?? null, stuck: q.stuck ?? null, changedSince: q.changedSince ?? null, changedUntil: q.changedUntil ?? null };
}

export const TaskStatusListQuery = z.strictObject({
  ...TASK_FILTER_SHAPE,
  limit: limitParam(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE),
  cursor: cursorParam("tasks", BigInt(MAX_ID)),
});

export function taskStatusList(deps: ReadApiDeps): Handler {
  // The rules are fixed for the process's life: their thresholds as a lookup are computed once.
  const lookup = stuckLookup(stuckThresholds(deps.rules));
  return async (input) => {
    const request = await callerAndQuery(deps.authenticate, input, TaskStatusListQuery, ["status"]);
    if (!request.ok) return request.refusal;
    const { caller, query: q } = request;
    const page = await listTaskStatuses(deps.db, caller.organizationId, taskFilterOf(q), lookup, Number(q.cursor ?? 0n), q.limit);
    return json({ tasks: page.tasks.map((row) => presentTask(row, deps.rules)), nextCursor: page.nextAfterId === null ? null : encodeCursor("tasks", page.nextAfterId) });
  };
}
