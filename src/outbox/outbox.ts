// The outbox's parts over their own connections: the relay (dispatch and the events queue), the
// webhook delivery and the retention of task_events, started in that order and closed in reverse
// (start.ts makes it the outbox component; the benchmark runs it alone).
// Its connections are its own: the relay's pool (one connection per organization delivered at once,
// plus dispatch and the queue) and one connection for the gauges, so a scrape never waits for a
// delivery nor a delivery for a scrape. Nothing holds session state (no advisory locks, no
// prepared statements by name): both pools may point at PgBouncer in transaction mode.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { createOutboxPool } from "./outbox-pool.js";
import type { TaskEventMessage } from "./message.js";
import type { WebhookEndpoint } from "./webhook-config.js";
import { startWebhookDelivery } from "./delivery.js";
import { createOutboxMetrics } from "./metrics.js";
import { startOutboxRelay } from "./relay.js";
import { startRetention } from "./retention.js";
import { DISPATCH_TARGET, QUEUE_TARGET } from "./sql/targets.js";

export interface OutboxSettings {
  databaseUrl: string;
  databaseStatementTimeoutMs: number;
  databaseConnectTimeoutMs: number;
  outboxPollIntervalMs: number;
  outboxBatchSize: number;
  outboxLeaseMs: number;
  eventsQueueMaxWaiting: number;
  eventsRetentionMs: number;
  webhookTimeoutMs: number;
  webhookRetryDelayMs: number;
  webhookRetryMaxDelayMs: number;
  webhookRetryForMs: number;
  webhookConcurrency: number;
  webhookEndpointConcurrency: number;
}

export interface OutboxDeps {
  settings: OutboxSettings;
  logger: Logger;
  registry: Registry;
  eventsQueue: Queue<TaskEventMessage> | null;
  endpoints: readonly WebhookEndpoint[];
  /** True while this process sweeps (the outbox gives way, give-way.ts). */
  deferWhile?: () => boolean;
}

export interface Outbox {
  close(): Promise<void>;
}

/** lease_owner of this process: host, pid and a random part (a restarted pid is another owner). */
export const newLeaseOwner = () => `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;

export async function runOutbox(deps: OutboxDeps): Promise<Outbox> {
  const { settings, logger } = deps;
  const owner = newLeaseOwner();
  const poolOptions = { statementTimeoutMs: settings.databaseStatementTimeoutMs, connectTimeoutMs: settings.databaseConnectTimeoutMs };
  const steps: { name: string; close: () => Promise<unknown> }[] = [];
  const close = async () => {
    for (const step of steps.splice(0).reverse()) {
      try {
        await step.close();
      } catch (error) {
        logger.warn({ err: error, step: step.name }, "outbox: shutdown step failed");
      }
    }
  };
  try {
    const pool = createOutboxPool(settings.databaseUrl, settings.webhookConcurrency + 3, logger, poolOptions);
    steps.push({ name: "outbox pool", close: () => pool.end() });
    const gaugePool = createOutboxPool(settings.databaseUrl, 1, logger, poolOptions);
    steps.push({ name: "outbox gauge pool", close: () => gaugePool.end() });
    const relaysWebhooks = deps.endpoints.length > 0;
    const metrics = createOutboxMetrics({
      registry: deps.registry,
      pool: gaugePool,
      logger,
      targets: [...(relaysWebhooks ? [DISPATCH_TARGET] : []), ...(deps.eventsQueue ? [QUEUE_TARGET] : [])],
    });
    const delivery = relaysWebhooks
      ? startWebhookDelivery({
          pool,
          owner,
          endpoints: deps.endpoints,
          leaseMs: settings.outboxLeaseMs,
          pollIntervalMs: settings.outboxPollIntervalMs,
          concurrency: settings.webhookConcurrency,
          endpointConcurrency: settings.webhookEndpointConcurrency,
          pageSize: settings.outboxBatchSize,
          timeoutMs: settings.webhookTimeoutMs,
          retryDelayMs: settings.webhookRetryDelayMs,
          retryMaxDelayMs: settings.webhookRetryMaxDelayMs,
          retryForMs: settings.webhookRetryForMs,
          logger,
          metrics,
          ...(deps.deferWhile ? { deferWhile: deps.deferWhile } : {}),
        })
      : null;
    // Awaited: a target new to this database starts before the first event is written.
    const relay = await startOutboxRelay({
      pool,
      owner,
      logger,
      metrics,
      intervalMs: settings.outboxPollIntervalMs,
      leaseMs: settings.outboxLeaseMs,
      batchSize: settings.outboxBatchSize,
      eventsQueue: deps.eventsQueue,
      eventsQueueMaxWaiting: settings.eventsQueueMaxWaiting,
      webhookOrganizationIds: deps.endpoints.map((e) => e.organizationId),
      ...(delivery ? { onDispatched: delivery.wake } : {}),
      ...(deps.deferWhile ? { deferWhile: deps.deferWhile } : {}),
    });
    if (delivery) steps.push({ name: "webhook delivery", close: () => delivery.close() });
    steps.push({ name: "outbox relay", close: () => relay.close() });
    const retention = startRetention({
      pool,
      owner,
      logger,
      retentionMs: settings.eventsRetentionMs,
      intervalMs: 3_600_000,
      leaseMs: settings.outboxLeaseMs,
      relaysQueue: deps.eventsQueue !== null,
      relaysWebhooks,
      onError: () => metrics.relayError("queue"),
    });
    steps.push({ name: "events retention", close: () => retention.close() });
  } catch (error) {
    await close();
    throw error;
  }
  let closed: Promise<void> | undefined;
  return { close: () => (closed ??= close()) };
}
