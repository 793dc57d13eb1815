// The outbox component: the relay (outbox rows → the events queue and the webhook deliveries) and
// the webhook worker, on a pool of their own (session advisory locks, one per target).
import type { Component, Context } from "../platform/component.js";
import { closeSteps } from "../platform/component.js";
import { closeWorkerWithin, workerCloseMs } from "../platform/close-worker.js";
import { throttledErrorLog } from "../platform/log-safety.js";
import type { Metrics } from "../ops/metrics.js";
import { loadWebhookEndpoints } from "./webhook-config.js";
import { relayTargets, startOutboxRelay } from "./outbox-relay.js";
import { createWebhookWorker } from "./webhook-worker.js";
import { createEventsQueue, createWebhooksQueue } from "./queues.js";
import { createOutboxPool } from "./outbox-pool.js";
import { createOutboxMetrics } from "./outbox-metrics.js";

export async function startOutbox(ctx: Context, metrics: Metrics): Promise<Component> {
  const { config, logger, redis } = ctx;
  const endpoints = loadWebhookEndpoints(config);
  const steps: [string, () => Promise<unknown>][] = [];
  const close = () => closeSteps(steps.splice(0).reverse());
  try {
    const pool = createOutboxPool(config.databaseUrl, config.webhookConcurrency + 2, logger, { statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
    steps.push(["outbox pool", () => pool.end()]);
    const eventsQueue = config.eventsQueueEnabled ? createEventsQueue(redis.connect("producer", "events queue"), config.queuePrefix) : null;
    if (eventsQueue) steps.push(["events queue", () => eventsQueue.close()]);
    const webhooksQueue = endpoints.length > 0 ? createWebhooksQueue(redis.connect("producer", "webhooks queue"), config.queuePrefix) : null;
    if (webhooksQueue) steps.push(["webhooks queue", () => webhooksQueue.close()]);
    // Without a listener BullMQ prints a queue's connection errors to stderr, past the logger.
    for (const queue of [eventsQueue, webhooksQueue]) queue?.on("error", throttledErrorLog(logger, "queue connection error", { queue: queue.name }));

    const relayOptions = { eventsQueue, webhooks: webhooksQueue ? { queue: webhooksQueue, organizationIds: endpoints.map((e) => e.organizationId) } : null };
    const outboxMetrics = createOutboxMetrics({ registry: metrics.registry, pool, targets: relayTargets(relayOptions), logger });
    const deferWhile = ctx.sweeps.active;
    // Before the workers start: a target new to this database starts before the first event is written.
    const relay = await startOutboxRelay({ pool, logger, metrics: outboxMetrics, intervalMs: config.outboxPollIntervalMs, batchSize: config.outboxBatchSize, deferWhile, ...relayOptions });
    steps.push(["outbox relay", () => relay.close()]);
    if (webhooksQueue) {
      const worker = createWebhookWorker({
        pool,
        endpoints,
        batchSize: config.outboxBatchSize,
        timeoutMs: config.webhookTimeoutMs,
        retryForMs: config.webhookRetryForMs,
        retryDelayMs: config.webhookRetryDelayMs,
        retryMaxDelayMs: config.webhookRetryMaxDelayMs,
        concurrency: config.webhookConcurrency,
        logger,
        metrics: outboxMetrics,
        stopping: () => ctx.shutdown.aborted,
        deferWhile,
        connection: redis.connect("worker", "webhook worker"),
        prefix: config.queuePrefix,
      });
      // Each failed delivery is logged by the processor; here only the worker's own faults.
      worker.on("error", (error) => logger.error({ err: error }, "webhook worker error"));
      steps.push(["webhook worker", () => closeWorkerWithin(worker, workerCloseMs(config), logger)]);
    }
    return { name: "outbox", close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
