// The outbox component: the relay (outbox rows → the events queue and the webhook deliveries) and
// the webhook worker, on a pool of their own (session advisory locks, one per target).
import type { Component, Context } from "../platform/component.js";
import { closeSteps } from "../platform/component.js";
import { settlesWithin, ShutdownForced, shutdownBudget, withTimeout, type ShutdownBudget } from "../platform/deadline.js";
import { shutdownWorker } from "../platform/drain-worker.js";
import { throttledErrorLog } from "../platform/log-safety.js";
import type { RedisConnection } from "../platform/redis.js";
import type { Metrics } from "../ops/metrics.js";
import { loadWebhookEndpoints } from "./webhook-config.js";
import { relayTargets, startOutboxRelay, type OutboxRelay } from "./outbox-relay.js";
import { createWebhookWorker } from "./webhook-worker.js";
import { createEventsQueue, createWebhooksQueue } from "./queues.js";
import { createOutboxPool } from "./outbox-pool.js";
import { createOutboxMetrics } from "./outbox-metrics.js";

export async function startOutbox(ctx: Context, metrics: Metrics): Promise<Component> {
  const { config, logger, redis } = ctx;
  const endpoints = loadWebhookEndpoints(config);
  const steps: [string, (budget: ShutdownBudget) => Promise<unknown>][] = [];
  const close = (budget: ShutdownBudget) => closeSteps(steps.splice(0).reverse().map(([name, run]) => [name, () => run(budget)] as const));
  try {
    const pool = createOutboxPool(config.databaseUrl, config.webhookConcurrency + 2, logger, { statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
    steps.push(["outbox pool", (budget) => withTimeout(budget.remainingMs(), "closing the outbox pool", pool.end())]);
    const producers: RedisConnection[] = [];
    const producer = (name: string) => {
      const connection = redis.connect("producer", name);
      producers.push(connection);
      return connection;
    };
    const eventsQueue = config.eventsQueueEnabled ? createEventsQueue(producer("events queue"), config.queuePrefix) : null;
    if (eventsQueue) steps.push(["events queue", (budget) => withTimeout(budget.remainingMs(), "closing the events queue", eventsQueue.close())]);
    const webhooksQueue = endpoints.length > 0 ? createWebhooksQueue(producer("webhooks queue"), config.queuePrefix) : null;
    if (webhooksQueue) steps.push(["webhooks queue", (budget) => withTimeout(budget.remainingMs(), "closing the webhooks queue", webhooksQueue.close())]);
    // Without a listener BullMQ prints a queue's connection errors to stderr, past the logger.
    for (const queue of [eventsQueue, webhooksQueue]) queue?.on("error", throttledErrorLog(logger, "queue connection error", { queue: queue.name }));

    const relayOptions = { eventsQueue, webhooks: webhooksQueue ? { queue: webhooksQueue, organizationIds: endpoints.map((e) => e.organizationId) } : null };
    const outboxMetrics = createOutboxMetrics({ registry: metrics.registry, pool, targets: relayTargets(relayOptions), logger });
    const deferWhile = ctx.sweeps.active;
    // Before the workers start: a target new to this database starts before the first event is written.
    const relay = await startOutboxRelay({ pool, logger, metrics: outboxMetrics, intervalMs: config.outboxPollIntervalMs, batchSize: config.outboxBatchSize, deferWhile, ...relayOptions });
    steps.push(["outbox relay", (budget) => closeRelay(relay, producers, budget)]);
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
      // Each failed delivery is logged by the processor; here only the worker's own faults, one line
      // per outage rather than one per reconnect.
      worker.on("error", throttledErrorLog(logger, "webhook worker error"));
      const closeWorker = shutdownWorker(ctx, worker);
      steps.push(["webhook worker", closeWorker]);
    }
    return { name: "outbox", close };
  } catch (error) {
    await close(shutdownBudget(config.shutdownTimeoutMs)).catch(() => undefined);
    throw error;
  }
}

/**
 * The relay's round in flight may wait on Redis: its producers queue commands while disconnected.
 * Cutting it loses nothing (a position moves only after the queue took the events; a page added
 * twice is deduplicated by job id), so a round on connected producers gets until the drain deadline
 * and one waiting on a producer that is not connected is cut at once, by disconnecting it.
 */
async function closeRelay(relay: OutboxRelay, producers: readonly RedisConnection[], budget: ShutdownBudget): Promise<void> {
  const closing = relay.close();
  const cut = () => {
    for (const connection of producers) connection.disconnect();
  };
  if (producers.some((connection) => connection.status !== "ready")) cut();
  if (await settlesWithin(closing, budget.drainRemainingMs())) return;
  cut();
  if (await settlesWithin(closing, Math.min(1000, budget.remainingMs()))) return;
  throw new ShutdownForced("outbox relay: its round in flight did not end by the shutdown deadline (waiting on PostgreSQL?); the next round of any replica redoes it");
}
