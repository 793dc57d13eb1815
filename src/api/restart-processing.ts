// PATCH /api/v1.0/external/sdtask/restartprocessing?taskId=… | ?externalId=… [&force=true]
// Mirrors the platform's documented endpoint: 202 accepted (enqueued on task-reprocess; the job
// id travels in X-Job-Id), 400 neither or both ids / a malformed value / an unknown or repeated
// parameter, 401 no valid bearer token, 404 no such task in the token's organization — another
// organization's task is a 404 too, so task ids cannot be probed; 409 the reprocess guard refuses
// (the task is Deleting/Deleted, or its machine work is in flight) unless `force=true`; 503 when
// Redis does not take the job within ENQUEUE_TIMEOUT_MS (platform/redis.ts addForCaller; the request may be sent again: a second
// request for the same task collapses into the first job). Bodies are empty, as documented; a
// 400, 409 or 503 says why in X-Error. The worker decides the guard again on the locked row.
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import { bearerChallenge, type Authenticate } from "./authenticate.js";
import type { Db } from "../platform/db/client.js";
import { findTask, type TaskRef } from "../reprocess/sql/find-task.js";
import { decideReprocess, guardThresholdSeconds } from "../reprocess/reprocess-guard.js";
import type { Rule } from "../rules/rules.js";
import type { ReprocessRequestOutcome } from "../ops/metrics.js";
import { enqueueReprocess, type ReprocessJobData } from "../reprocess/reprocess-queue.js";
import { addForCaller, type RedisConnection } from "../platform/redis.js";
import { parseRestartProcessingQuery } from "./restart-processing-query.js";
import type { Handler, HttpInput, HttpOutput } from "./types.js";

export const RESTART_PROCESSING_PATH = "/api/v1.0/external/sdtask/restartprocessing";

export interface RestartProcessingDeps {
  /** The one authentication of the customer API. */
  authenticate: Authenticate;
  db: Db;
  /** On a fail-fast connection (createRedis purpose "request"). */
  queue: Queue<ReprocessJobData>;
  /** That connection: dropped when an add times out, so a command still in flight dies with its socket. */
  redis?: RedisConnection;
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
  const caller = await deps.authenticate(input.headers);
  if (!caller.ok) return ["unauthorized", { status: 401, headers: { "www-authenticate": bearerChallenge(caller.presented) } }];
  const organizationId = caller.organizationId;

  const query = parseRestartProcessingQuery(input.query);
  if (!query.ok) return ["bad_request", { status: 400, headers: { "x-error": query.error } }];
  const { taskId, externalId, force = false } = query.value;
  const ref: TaskRef = taskId !== undefined ? { taskId } : { externalId: externalId!, organizationId };

  const task = await findTask(deps.db, ref);
  if (!task || task.organizationId !== organizationId) return ["not_found", { status: 404 }];
  const thresholdSeconds = guardThresholdSeconds(deps.rules, task.status, task.workspaceId);
  const decision = decideReprocess({ status: task.status, statusAgeSeconds: task.statusAgeSeconds, thresholdSeconds, force }, `task ${task.id}`);
  if (!decision.allowed) return ["conflict", { status: 409, headers: { "x-error": decision.reason } }];

  const requestedBy = `api:org-${organizationId}:${caller.fingerprint}`;
  const data: ReprocessJobData = { taskId: task.id, organizationId, requestedBy, ...(force ? { force } : {}), ...(input.requestId ? { httpRequestId: input.requestId } : {}) };
  let job: Awaited<ReturnType<typeof enqueueReprocess>>;
  try {
    // Bounded; on failure the connection is dropped, so the add cannot run after this caller was told it failed.
    job = await addForCaller(deps.redis, enqueueReprocess(deps.queue, data, { dedupeTaskId: task.id }));
  } catch (error) {
    deps.logger.warn({ err: error, taskId: task.id, organizationId }, "reprocess request not enqueued: Redis unavailable");
    return ["unavailable", { status: 503, headers: { "retry-after": "5", "x-error": "the request queue (Redis) is unavailable; nothing was enqueued, try again later" } }];
  }
  deps.logger.info({ taskId: task.id, organizationId, jobId: job.id, requestedBy, requestId: input.requestId, ...(force ? { force } : {}) }, "reprocess requested over HTTP");
  return ["accepted", { status: 202, headers: { "x-job-id": String(job.id) } }];
}
