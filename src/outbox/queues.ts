import { Queue, type ConnectionOptions } from "bullmq";
import { EVENTS_QUEUE, WEBHOOKS_QUEUE } from "../platform/queue-names.js";
import type { TaskEventMessage } from "./message.js";
import type { WebhookJobData } from "./webhook-worker.js";

/** `task-watchdog-events`: one job per task event, named by its type, data = TaskEventMessage, id = `evt_<id>`. */
export function createEventsQueue(connection: ConnectionOptions, prefix: string): Queue<TaskEventMessage> {
  return new Queue<TaskEventMessage>(EVENTS_QUEUE, { connection, prefix });
}

/** `task-watchdog-webhooks`: the delivery jobs, one per organization at a time; failures show on the board. */
export function createWebhooksQueue(connection: ConnectionOptions, prefix: string): Queue<WebhookJobData> {
  return new Queue<WebhookJobData>(WEBHOOKS_QUEUE, { connection, prefix });
}
