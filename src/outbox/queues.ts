import { Queue, type ConnectionOptions } from "bullmq";
import { EVENTS_QUEUE } from "../platform/queue-names.js";
import type { TaskEventMessage } from "./message.js";

/** `task-watchdog-events`: one job per task event, named by its type, data = TaskEventMessage, id = `evt_<id>`. */
export function createEventsQueue(connection: ConnectionOptions, prefix: string): Queue<TaskEventMessage> {
  return new Queue<TaskEventMessage>(EVENTS_QUEUE, { connection, prefix });
}
