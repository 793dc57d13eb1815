// PATCH /api/v1.0/external/sdtask/restartprocessing?taskId=… | ?externalId=…
// Mirrors the platform's documented endpoint: 202 accepted (enqueued on task-reprocess; the job
// id travels in X-Job-Id), 400 neither or both ids / a malformed value, 401 no valid bearer token,
// 404 no such task in the token's organization — another organization's task is a 404 too, so
// task ids cannot be probed; 409 the reprocess guard refuses (the task is Deleting/Deleted, or its
// machine work is in flight) unless `force=true`. Bodies are empty, as documented; a 400 and a 409
// say why in X-Error. The worker decides the guard again on the locked row (authoritative).
import { createHash } from "node:crypto";
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { ApiToken } from "../config/api-tokens.js";
import type { Db } from "../db/client.js";
import { findTask, type TaskRef } from "../db/sql/find-task.js";
import { decideReprocess, thresholdSecondsFor } from "../domain/reprocess-guard.js";
import { MAX_EXTERNAL_ID_LENGTH, MAX_ID as MAX_TASK_ID } from "../domain/reprocess-request.js";
import type { Rule } from "../domain/rules.js";
import type { ReprocessRequestOutcome } from "../metrics/metrics.js";
import { enqueueReprocess, type ReprocessJobData } from "../queues/reprocess-queue.js";
import { bearerToken, secretEquals } from "./credentials.js";
import type { Handler, HttpInput, HttpOutput } from "./types.js";

export const RESTART_PROCESSING_PATH = "/api/v1.0/external/sdtask/restartprocessing";


export interface RestartProcessingDeps {
  tokens: readonly ApiToken[];
  db: Db;
  queue: Queue<ReprocessJobData>;
  /** The effective rules, for the reprocess guard's thresholds. */
  rules: readonly Rule[];
  logger: Logger;
  onOutcome?: (outcome: ReprocessRequestOutcome) => void;
}

export function restartProcessing(deps: RestartProcessingDeps): Handler {
  return async (input) => {
    let outcome: ReprocessRequestOutcome = "error";
    try {
      const [result, out] = await handle(deps, input);
      outcome = result;
      return out;
    } finally {
      deps.onOutcome?.(outcome);
    }
  };
}

async function handle(deps: RestartProcessingDeps, input: HttpInput): Promise<[ReprocessRequestOutcome, HttpOutput]> {
  const caller = authenticate(deps.tokens, input);
  if (!caller.ok) {
    const error = caller.presented ? `, error="invalid_token"` : "";
    return ["unauthorized", { status: 401, headers: { "www-authenticate": `Bearer realm="task-watchdog"${error}` } }];
  }
  const organizationId = caller.token.organizationId;

  const ref = parseReference(input.query, organizationId);
  if ("error" in ref) return ["bad_request", { status: 400, headers: { "x-error": ref.error } }];
  const force = parseForce(input.query);
  if (typeof force !== "boolean") return ["bad_request", { status: 400, headers: { "x-error": force.error } }];

  const task = await findTask(deps.db, ref);
  if (!task || task.organizationId !== organizationId) return ["not_found", { status: 404 }];
  const thresholdSeconds = thresholdSecondsFor(deps.rules, task.status, task.workspaceId);
  const decision = decideReprocess({ status: task.status, statusAgeSeconds: task.statusAgeSeconds, thresholdSeconds, force }, `task ${task.id}`);
  if (!decision.allowed) return ["conflict", { status: 409, headers: { "x-error": decision.reason } }];

  const requestedBy = `api:org-${organizationId}:${fingerprint(caller.token.token)}`;
  const job = await enqueueReprocess(deps.queue, { taskId: task.id, organizationId, requestedBy, ...(force ? { force } : {}) }, { dedupeTaskId: task.id });
  deps.logger.info({ taskId: task.id, organizationId, jobId: job.id, requestedBy, ...(force ? { force } : {}) }, "reprocess requested over HTTP");
  return ["accepted", { status: 202, headers: { "x-job-id": String(job.id) } }];
}

/** Every configured token is compared (in constant time), so timing says nothing about which matched. */
function authenticate(tokens: readonly ApiToken[], input: HttpInput): { ok: true; token: ApiToken } | { ok: false; presented: boolean } {
  const presented = bearerToken(input.headers);
  if (presented === null) return { ok: false, presented: input.headers.authorization !== undefined };
  let match: ApiToken | undefined;
  for (const t of tokens) if (secretEquals(presented, t.token) && !match) match = t;
  return match ? { ok: true, token: match } : { ok: false, presented: true };
}

/** Names the token in audit trails without revealing it: 8 hex digits of its SHA-256. */
function fingerprint(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 8);
}

/** `force=true` skips the reprocess guard (audited as forced); only "true" or "false", at most once. */
function parseForce(query: URLSearchParams): boolean | { error: string } {
  const values = query.getAll("force");
  if (values.length === 0) return false;
  if (values.length > 1 || (values[0] !== "true" && values[0] !== "false")) return { error: "force must be true or false, once" };
  return values[0] === "true";
}

function parseReference(query: URLSearchParams, organizationId: number): TaskRef | { error: string } {
  const taskIds = query.getAll("taskId");
  const externalIds = query.getAll("externalId");
  if (taskIds.length + externalIds.length === 0) return { error: "give taskId or externalId" };
  if (taskIds.length + externalIds.length > 1) return { error: "give exactly one of taskId or externalId, once" };
  if (taskIds.length === 1) {
    const raw = taskIds[0]!;
    const taskId = Number(raw);
    if (!/^[1-9][0-9]{0,9}$/.test(raw) || taskId > MAX_TASK_ID) return { error: `taskId must be a whole number from 1 to ${MAX_TASK_ID}` };
    return { taskId };
  }
  const externalId = externalIds[0]!;
  if (externalId.trim() === "" || externalId.length > MAX_EXTERNAL_ID_LENGTH) return { error: `externalId must be 1 to ${MAX_EXTERNAL_ID_LENGTH} characters` };
  return { externalId, organizationId };
}
