// The read API's routes, registered on the API listener next to restartprocessing.
import type { Route } from "../types.js";
import type { ReadApiDeps } from "./deps.js";
import { taskEvents, TASK_EVENTS_PATH } from "./task-events.js";
import { taskStatus, TASK_STATUS_PATH } from "./task-status.js";
import { taskStatusList, TASK_STATUS_LIST_PATH } from "./task-status-list.js";

export function readApiRoutes(deps: ReadApiDeps): Route[] {
  return [
    { method: "GET", path: TASK_STATUS_PATH, handler: taskStatus(deps) },
    { method: "GET", path: TASK_STATUS_LIST_PATH, handler: taskStatusList(deps) },
    { method: "GET", path: TASK_EVENTS_PATH, handler: taskEvents(deps) },
  ];
}
