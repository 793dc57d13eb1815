// The outbox component: the events queue's producer connection and the outbox's parts (outbox.ts:
// relay, webhook delivery, retention) on connections of their own. No session state anywhere:
// leases live in outbox_cursors, so the outbox runs through PgBouncer in transaction mode.
import type { Component, Context } from "../platform/component.js";
import { closeSteps, onShutdown } from "../platform/component.js";
import { throttledErrorLog } from "../platform/log-safety.js";
import type { Metrics } from "../ops/metrics.js";
import { loadWebhookEndpoints } from "./webhook-config.js";
import { withDatabaseEndpoints } from "./database-endpoints.js";
import { createEventsQueue } from "./queues.js";
import { runOutbox } from "./outbox.js";

export async function startOutbox(ctx: Context, metrics: Metrics): Promise<Component> {
  const { config, logger, redis } = ctx;
  // WEBHOOKS_FILE / WEBHOOKS_JSON, then the endpoints kept in the database (read once, at start).
  const endpoints = await withDatabaseEndpoints(config, loadWebhookEndpoints(config));
  const steps: [string, () => Promise<unknown>][] = [];
  const close = () => closeSteps(steps.splice(0).reverse());
  try {
    const eventsQueue = config.eventsQueueEnabled ? createEventsQueue(redis.connect("producer", "events queue"), config.queuePrefix) : null;
    if (eventsQueue) {
      steps.push(["events queue", () => eventsQueue.close()]);
      // Without a listener BullMQ prints a queue's connection errors to stderr, past the logger.
      eventsQueue.on("error", throttledErrorLog(logger, "queue connection error", { queue: eventsQueue.name }));
    }
    // Before the workers start: a target new to this database starts before the first event is written.
    const outbox = await runOutbox({ settings: config, logger, registry: metrics.registry, eventsQueue, endpoints, deferWhile: ctx.sweeps.active });
    // Stops with the workers, when shutdown begins: the requests in flight finish, positions are written.
    steps.push(["outbox", onShutdown(ctx, () => outbox.close())]);
    return { name: "outbox", close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
