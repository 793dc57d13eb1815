// The outbox component: the events queue's producer connection and the outbox's parts (outbox.ts:
// relay, webhook delivery, retention) on connections of their own. No session state anywhere:
// leases live in outbox_cursors, so the outbox runs through PgBouncer in transaction mode.
import type { Component, Context } from "../platform/component.js";
import { closeSteps, onShutdown } from "../platform/component.js";
import { settlesWithin, ShutdownForced, shutdownBudget, withTimeout, type ShutdownBudget } from "../platform/deadline.js";
import { throttledErrorLog } from "../platform/log-safety.js";
import type { RedisConnection } from "../platform/redis.js";
import type { Metrics } from "../ops/metrics.js";
import { loadWebhookEndpoints, webhooksPossible } from "./webhook-config.js";
import { checkDatabaseEndpoints } from "./database-endpoints.js";
import { createEventsQueue } from "./queues.js";
import { runOutbox } from "./outbox.js";
import { createKeyring } from "./webhook-secret-box.js";
import { createOutboxPool } from "./outbox-pool.js";
import { createReplayWorker } from "./replay.js";
import { shutdownWorker } from "../platform/drain-worker.js";
import { endPool, POOL_END_TIMEOUT_MS } from "../platform/db/client.js";

export interface OutboxComponent extends Component {
  /**
   * The organizations with a webhook endpoint, by where it comes from, for the start-up log: from the
   * outbox's directory as last read (no read of its own, so a slow database never holds the start up
   * there). An organization cannot be in both places: the start refuses it (checkDatabaseEndpoints).
   */
  webhookOrganizations(): { environment: number[]; database: number[] };
}

export async function startOutbox(ctx: Context, metrics: Metrics): Promise<OutboxComponent> {
  const { config, logger, redis } = ctx;
  // WEBHOOKS_FILE / WEBHOOKS_JSON. The database's endpoints are checked here (a missing
  // WEBHOOK_SECRETS_KEY, an organization in both places stop the start), then read by the outbox's
  // endpoint directory, again every WEBHOOK_ENDPOINTS_REFRESH.
  const endpoints = loadWebhookEndpoints(config);
  const openedSecrets = await checkDatabaseEndpoints(config, endpoints);
  const steps: [string, (budget: ShutdownBudget) => Promise<unknown>][] = [];
  const close = (budget: ShutdownBudget) => closeSteps(steps.splice(0).reverse().map(([name, run]) => [name, () => run(budget)] as const));
  try {
    const eventsConnection = config.eventsQueueEnabled ? redis.connect("producer", "events queue") : null;
    const eventsQueue = eventsConnection ? createEventsQueue(eventsConnection, config.queuePrefix) : null;
    if (eventsQueue) {
      steps.push(["events queue", (budget) => withTimeout(budget.remainingMs(), "closing the events queue", eventsQueue.close())]);
      // Without a listener BullMQ prints a queue's connection errors to stderr, past the logger.
      eventsQueue.on("error", throttledErrorLog(logger, "queue connection error", { queue: eventsQueue.name }));
    }
    // Before the workers start: a target new to this database starts before the first event is written.
    const keyring = config.webhookSecretsKeys ? createKeyring(config.webhookSecretsKeys) : null;
    const outbox = await runOutbox({ settings: config, logger, registry: metrics.registry, eventsQueue, endpoints, keyring, openedSecrets, sweeps: ctx.sweeps });
    // Stops with the workers, when shutdown begins: the requests in flight finish, positions are written.
    const stopping = onShutdown(ctx, () => {
      cutIfDown(eventsConnection);
      return outbox.close();
    });
    steps.push(["outbox", (budget) => closeOutbox(stopping(), eventsConnection, budget)]);
    if (webhooksPossible(config)) {
      // Webhook replays (replay.ts): their own queue, worker and two connections, beside the live
      // delivery, whose endpoint directory they send with (the environment's and the database's).
      const replayPool = createOutboxPool(config.databaseUrl, 2, logger, { statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
      steps.push(["webhook replay pool", (budget) => endPool(replayPool, Math.min(budget.remainingMs(), POOL_END_TIMEOUT_MS))]);
      const replays = createReplayWorker({
        pool: replayPool,
        endpoints: outbox.endpoints,
        sender: outbox.sender,
        endpointsRefreshMs: keyring ? config.webhookEndpointsRefreshMs : 0,
        timeoutMs: config.webhookTimeoutMs,
        retryForMs: config.webhookRetryForMs,
        retryDelayMs: config.webhookRetryDelayMs,
        retryMaxDelayMs: config.webhookRetryMaxDelayMs,
        stopping: () => ctx.shutdown.aborted,
        connection: redis.connect("worker", "webhook replay worker"),
        prefix: config.queuePrefix,
        logger,
      });
      const closeReplays = shutdownWorker(ctx, replays);
      steps.push(["webhook replay worker", (budget) => closeReplays(budget)]);
    }
    const environment = endpoints.map((e) => e.organizationId);
    const webhookOrganizations = () => ({ environment, database: outbox.endpoints.organizationIds().filter((id) => !environment.includes(id)) });
    return { name: "outbox", close, webhookOrganizations };
  } catch (error) {
    await close(shutdownBudget(config.shutdownTimeoutMs)).catch(() => undefined);
    throw error;
  }
}

/**
 * The relay's round may wait on the events queue's connection: a producer queues commands while
 * disconnected. Cutting it loses nothing (a position moves only after the queue took the events; a
 * page added twice is deduplicated by job id), so a round on a connected producer gets until the
 * drain deadline, and one waiting on a producer that is not connected is cut at once.
 */
const cutIfDown = (connection: RedisConnection | null) => {
  if (connection && connection.status !== "ready") connection.disconnect();
};

async function closeOutbox(closing: Promise<void>, eventsConnection: RedisConnection | null, budget: ShutdownBudget): Promise<void> {
  cutIfDown(eventsConnection);
  if (await settlesWithin(closing, budget.drainRemainingMs())) return closing;
  eventsConnection?.disconnect();
  if (await settlesWithin(closing, Math.min(1000, budget.remainingMs()))) return closing;
  throw new ShutdownForced("outbox: its round or deliveries in flight did not end by the shutdown deadline; another replica (or the next start) takes them over once their lease ends");
}
