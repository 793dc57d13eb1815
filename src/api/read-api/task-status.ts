// GET /api/v1.0/external/sdtask/status?taskId=… | ?externalId=…
// Mirrors the platform's documented "GET Task Status": one task of the token's organization —
// its status (code and name), since when, restartCount, preProcessingStartedOn, warning,
// warningReason, location, and whether it is stuck by the effective rules. 401 without a valid
// token, 400 naming the bad parameter, 404 when the organization has no such task (another
// organization's task included, so ids cannot be probed).
import { z } from "zod";
import { findTaskStatus } from "./sql/find-task-status.js";
import type { Handler } from "../types.js";
import { callerAndQuery } from "./caller.js";
import type { ReadApiDeps } from "./deps.js";
import { presentTask } from "./present.js";
import { externalIdParam, idParam, oneTaskRef } from "../query.js";
import { json, refusal } from "./responses.js";

export const TASK_STATUS_PATH = "/api/v1.0/external/sdtask/status";

export const TaskRefQuery = z
  .strictObject({
    taskId: idParam("The task's id.").optional(),
    externalId: externalIdParam().optional(),
  })
  .superRefine(oneTaskRef);

export const NO_SUCH_TASK = "no such task in your organization";

export function taskStatus(deps: ReadApiDeps): Handler {
  return async (input) => {
    const request = await callerAndQuery(deps.authenticate, input, TaskRefQuery);
    if (!request.ok) return request.refusal;
    const { caller } = request;
    const { taskId, externalId } = request.query;
    const row = await findTaskStatus(deps.db, caller.organizationId, taskId !== undefined ? { taskId } : { externalId: externalId! });
    if (!row) return refusal(404, NO_SUCH_TASK);
    return json(presentTask(row, deps.rules));
  };
}
