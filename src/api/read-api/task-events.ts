// GET /api/v1.0/external/sdtask/events?taskId=… | ?externalId=…&limit=…&cursor=…
// One task's audit trail (task_events), oldest first, paginated: what the watchdog and the
// reprocess requests did to it, and why. The platform documents no counterpart: this is the
// watchdog's own record, behind the same tokens. 404 as for GET …/status.
import { z } from "zod";
import { findTaskStatus } from "./sql/find-task-status.js";
import { listTaskEvents } from "./sql/list-task-events.js";
import type { Handler } from "../types.js";
import { callerAndQuery } from "./caller.js";
import { cursorParam, encodeCursor } from "./cursor.js";
import type { ReadApiDeps } from "./deps.js";
import { presentEvent } from "./present.js";
import { externalIdParam, idParam, limitParam, oneTaskRef } from "../query.js";
import { json, refusal } from "./responses.js";
import { NO_SUCH_TASK } from "./task-status.js";

export const TASK_EVENTS_PATH = "/api/v1.0/external/sdtask/events";
export const DEFAULT_EVENTS_PAGE_SIZE = 100;
export const MAX_EVENTS_PAGE_SIZE = 500;

export const TaskEventsQuery = z
  .strictObject({
    taskId: idParam("The task's id.").optional(),
    externalId: externalIdParam().optional(),
    limit: limitParam(MAX_EVENTS_PAGE_SIZE, DEFAULT_EVENTS_PAGE_SIZE),
    cursor: cursorParam("events", 2n ** 63n - 1n),
  })
  .superRefine(oneTaskRef);

export function taskEvents(deps: ReadApiDeps): Handler {
  return async (input) => {
    const request = await callerAndQuery(deps.authenticate, input, TaskEventsQuery);
    if (!request.ok) return request.refusal;
    const { caller } = request;
    const { taskId, externalId, limit, cursor } = request.query;
    const task = await findTaskStatus(deps.db, caller.organizationId, taskId !== undefined ? { taskId } : { externalId: externalId! });
    if (!task) return refusal(404, NO_SUCH_TASK);
    const page = await listTaskEvents(deps.db, task.id, cursor ?? 0n, limit);
    const last = page.events.at(-1);
    return json({ taskId: task.id, events: page.events.map(presentEvent), nextCursor: page.more && last ? encodeCursor("events", last.id) : null });
  };
}
