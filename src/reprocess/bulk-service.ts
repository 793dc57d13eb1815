// What a bulk reprocess request does, for the HTTP endpoint and the CLI alike: preview it, or
// accept it once per Idempotency-Key. The caller has authenticated the organization and parsed
// the request (bulk-request.ts); this selects the tasks and answers.
import type { Db } from "../platform/db/client.js";
import type { Rule } from "../rules/rules.js";
import { stuckThresholds } from "../rules/stuck.js";
import { describeSelection, MAX_BULK_TASKS, requestHash, type BulkRequest } from "./bulk-request.js";
import { previewBulk, type BulkPreview } from "./bulk-preview.js";
import type { Bulk } from "./sql/bulk-row.js";
import { createBulk } from "./sql/create-bulk.js";
import { findBulkByKey, runningBulks, type RunningBulks } from "./sql/find-bulk.js";
import { BULK_CANDIDATE_BUDGET, selectBulkTasks } from "./sql/select-bulk-tasks.js";

export interface BulkServiceDeps {
  db: Db;
  rules: readonly Rule[];
  /** This replica accepted a bulk: start on it now rather than at the next idle tick. */
  nudge?: () => void;
  /** Tasks a filter may check one by one before it is refused as too broad (default BULK_CANDIDATE_BUDGET; tests lower it). */
  candidateBudget?: number;
  /** BULK_REPROCESS_MAX_RUNNING: the most bulks one organization may have running; a start past it is refused. */
  maxRunning: number;
}

export interface BulkAsk {
  organizationId: number;
  request: BulkRequest;
  /** Required unless the request is a dry run. */
  idempotencyKey?: string;
  requestedBy: string;
  httpRequestId?: string;
}

export type BulkAnswer =
  | { kind: "preview"; preview: BulkPreview & { force: boolean } }
  /** The selection is refused as it stands (too many tasks, none at all): nothing was started. */
  | { kind: "unprocessable"; error: string }
  /** The Idempotency-Key started another request's bulk. */
  | { kind: "keyReused"; error: string; bulk: Bulk }
  /** The organization already has `limit` bulks running (BULK_REPROCESS_MAX_RUNNING): nothing was started. */
  | { kind: "tooManyRunning"; limit: number; running: RunningBulks }
  /** Another start of the organization holds its start lock (not waited for): nothing was started; a retry with the same key after START_RETRY_AFTER_SECONDS is safe (HTTP 503, CLI exit 1). */
  | { kind: "startInProgress" }
  | { kind: "accepted"; bulk: Bulk; replayed: boolean; preview?: BulkPreview & { force: boolean } };

export async function askBulk(deps: BulkServiceDeps, ask: BulkAsk): Promise<BulkAnswer> {
  const { organizationId, request } = ask;
  const hash = requestHash(request);
  if (!request.dryRun) {
    if (ask.idempotencyKey === undefined) throw new Error("askBulk: a bulk needs an Idempotency-Key");
    // A retry is answered with the bulk it started, whatever its selection matches by now.
    const earlier = await findBulkByKey(deps.db, organizationId, ask.idempotencyKey);
    if (earlier) return sameRequest(earlier, hash, ask.idempotencyKey);
    // At the cap, refused before up to 50,000 tasks are selected; createBulk decides again, under the organization's lock.
    const running = await runningBulks(deps.db, organizationId);
    if (running.count >= deps.maxRunning) return { kind: "tooManyRunning", limit: deps.maxRunning, running };
  }

  const budget = deps.candidateBudget ?? BULK_CANDIDATE_BUDGET;
  const selected = await selectBulkTasks(deps.db, organizationId, request.selection, stuckThresholds(deps.rules), MAX_BULK_TASKS, budget);
  if (selected.tooBroad !== null) {
    return {
      kind: "unprocessable",
      error:
        `the filter has a condition no index serves (location, changedSince/changedUntil, stuck=false or warning=false), checked task by task over more than ${budget} of your organization's tasks: ` +
        `narrow it with status= (only the tasks of those statuses are checked), warning=true or stuck=true, or select the tasks by their ids; nothing was started`,
    };
  }
  if (selected.tooMany) {
    return { kind: "unprocessable", error: `the selection matches more than ${MAX_BULK_TASKS} tasks, the most one bulk holds; narrow it (e.g. by changedSince/changedUntil) and send several bulks` };
  }
  const preview = { force: request.force, ...previewBulk(selected.tasks, selected.notFound.length, deps.rules, request.force) };
  if (request.dryRun) return { kind: "preview", preview };
  if (selected.tasks.length === 0) {
    return { kind: "unprocessable", error: request.selection.kind === "filter" ? "the filter matches no task of your organization: nothing to reprocess" : "no id of the list names a task of your organization: nothing to reprocess" };
  }

  const { selection } = request;
  const items = selection.kind === "filter" ? { taskIds: selected.tasks.map((t) => t.id) } : selection.kind === "taskIds" ? { taskIds: selection.taskIds } : { externalIds: selection.externalIds };
  const result = await createBulk(deps.db, {
    organizationId,
    idempotencyKey: ask.idempotencyKey!,
    requestHash: hash,
    selection: describeSelection(request),
    force: request.force,
    requestedBy: ask.requestedBy,
    httpRequestId: ask.httpRequestId ?? null,
    items,
  }, deps.maxRunning);
  if ("busy" in result) return { kind: "startInProgress" };
  if ("full" in result) return { kind: "tooManyRunning", limit: deps.maxRunning, running: result.full };
  if (!result.created) return sameRequest(result.bulk, hash, ask.idempotencyKey!);
  deps.nudge?.();
  return { kind: "accepted", bulk: result.bulk, replayed: false, preview };
}

function sameRequest(earlier: Bulk, hash: string, key: string): BulkAnswer {
  if (earlier.requestHash === hash) return { kind: "accepted", bulk: earlier, replayed: true };
  return {
    kind: "keyReused",
    bulk: earlier,
    error: `Idempotency-Key ${JSON.stringify(key)} already started bulk ${earlier.id} (accepted ${earlier.createdAt.toISOString()}) for a different request; send a new key for a new bulk, or the same request to get that bulk`,
  };
}

/**
 * Why a start past BULK_REPROCESS_MAX_RUNNING is refused, and how to proceed: `who` is the
 * organization as the reader knows it, `how` the reader's own ways to follow, cancel and retry.
 */
export function tooManyRunningError(
  answer: Extract<BulkAnswer, { kind: "tooManyRunning" }>,
  who: string,
  how: { follow: string; cancel: string; retry: string },
): string {
  const { count, oldest } = answer.running;
  const named = oldest.join(", ") + (count > oldest.length ? ` and ${count - oldest.length} more` : "");
  return (
    `${who} already has ${count} bulk reprocess${count === 1 ? "" : "es"} running, the most it may run at once (BULK_REPROCESS_MAX_RUNNING = ${answer.limit}): ${named}; ` +
    `wait for one to finish (${how.follow}) or cancel one (${how.cancel}), then ${how.retry}; nothing was started`
  );
}

/** Why a start found its organization's start lock taken, and how to retry (`who` and `retry` in the reader's terms, `retry` naming START_RETRY_AFTER_SECONDS). */
export function startInProgressError(who: string, retry: string): string {
  return `another bulk reprocess start of ${who} is in progress (it holds the organization's start lock while it inserts its bulk); nothing was started: ${retry}`;
}
