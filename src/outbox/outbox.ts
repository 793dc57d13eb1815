// The outbox's parts over their own connections: the relay (dispatch and the events queue), the
// webhook delivery and the retention of task_events, started in that order and closed in reverse
// (start.ts makes it the outbox component; the benchmark runs it alone).
// Its connections are its own: the relay's pool (min(WEBHOOK_CONCURRENCY, 4) + 2: statements take a
// connection and give it back, requests in flight hold none) and one connection for the gauges, so a scrape never waits for a
// delivery nor a delivery for a scrape. Nothing holds session state (no advisory locks, no
// prepared statements by name): both pools may point at PgBouncer in transaction mode.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Queue } from "bullmq";
import type pg from "pg";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { createOutboxPool } from "./outbox-pool.js";
import { endPool, POOL_END_TIMEOUT_MS } from "../platform/db/client.js";
import type { TaskEventMessage } from "./message.js";
import type { WebhookEndpoint } from "./webhook-config.js";
import { startWebhookDelivery, type WebhookDelivery } from "./delivery.js";
import { createWebhookSender, type WebhookSender } from "./send-webhook.js";
import { createOutboxMetrics, type OutboxMetrics } from "./metrics.js";
import { startOutboxRelay, type OutboxRelay } from "./relay.js";
import { startRetention } from "./retention.js";
import { DISPATCH_TARGET, ensureTargets, QUEUE_TARGET, webhookTarget } from "./sql/targets.js";
import { endpointDirectory, type EndpointDirectory } from "./endpoint-directory.js";
import type { SecretKeyring } from "./webhook-secret-box.js";
import type { OpenedSecrets } from "./webhook-endpoints-store.js";
import type { ActivityCount } from "../platform/component.js";

export interface OutboxSettings {
  databaseUrl: string;
  databaseStatementTimeoutMs: number;
  databaseConnectTimeoutMs: number;
  outboxPollIntervalMs: number;
  outboxBatchSize: number;
  outboxLeaseMs: number;
  webhookEndpointsRefreshMs: number;
  eventsQueueMaxWaiting: number;
  eventsRetentionMs: number;
  webhookTimeoutMs: number;
  webhookRetryDelayMs: number;
  webhookRetryMaxDelayMs: number;
  webhookRetryForMs: number;
  webhookConcurrency: number;
  webhookEndpointConcurrency: number;
  webhookOrganizationTurnMs: number;
}

export interface OutboxDeps {
  settings: OutboxSettings;
  logger: Logger;
  registry: Registry;
  eventsQueue: Queue<TaskEventMessage> | null;
  /** Endpoints of WEBHOOKS_FILE / WEBHOOKS_JSON. */
  endpoints: readonly WebhookEndpoint[];
  /** Opens the secrets of endpoints kept in the database (WEBHOOK_SECRETS_KEY); null: only the environment's. */
  keyring?: SecretKeyring | null;
  /** The database's secrets opened by the start's check (checkDatabaseEndpoints): the first read opens none of them again. */
  openedSecrets?: OpenedSecrets;
  /** This process's sweeps: the outbox gives way while one runs (give-way.ts) and relays at once when the last ends. */
  sweeps?: Pick<ActivityCount, "active" | "onIdle">;
}

export interface Outbox {
  /** The endpoints the delivery sends to, kept current by the outbox: the webhook replays send with them too (and the start-up log names their organizations). */
  readonly endpoints: Pick<EndpointDirectory, "get" | "organizationIds">;
  /** The connections the delivery sends on; the webhook replays share them. */
  readonly sender: Pick<WebhookSender, "send">;
  close(): Promise<void>;
}

/** lease_owner of this process: host, pid and a random part (a restarted pid is another owner). */
export const newLeaseOwner = () => `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;

export async function runOutbox(deps: OutboxDeps): Promise<Outbox> {
  const { settings, logger } = deps;
  const owner = newLeaseOwner();
  const poolOptions = { statementTimeoutMs: settings.databaseStatementTimeoutMs, connectTimeoutMs: settings.databaseConnectTimeoutMs };
  const steps = shutdownSteps(logger);
  let directory: EndpointDirectory;
  let sender: WebhookSender;
  try {
    // Deliveries hold no connection while a request is in flight (each statement takes one and gives it
    // back), so a few connections serve WEBHOOK_CONCURRENCY organizations: the connection budget of a
    // replica does not grow with it (docs/performance.md, "Connections").
    const pool = createOutboxPool(settings.databaseUrl, Math.min(settings.webhookConcurrency, 4) + 2, logger, poolOptions);
    const pools = steps.group("outbox pools");
    pools("outbox pool", () => endPool(pool, POOL_END_TIMEOUT_MS));
    const gaugePool = createOutboxPool(settings.databaseUrl, 1, logger, poolOptions);
    pools("outbox gauge pool", () => endPool(gaugePool, POOL_END_TIMEOUT_MS));
    // As many connections to one host as requests may be in flight to it: every organization's at
    // once (several often share a host), and one replay (start.ts).
    sender = createWebhookSender(settings.webhookConcurrency * settings.webhookEndpointConcurrency + 1);
    const closeSender = sender.close;
    steps.add("webhook connections", () => closeSender());
    // The relay, the delivery and the retention stop together: each waits, bounded, for its own work in flight.
    const loops = steps.group("outbox loops");
    const keyring = deps.keyring ?? null;
    directory = endpointDirectory({ fromEnvironment: deps.endpoints, db: pool, keyring, logger, ...(deps.openedSecrets ? { opened: deps.openedSecrets } : {}) });
    try {
      await refreshEndpoints(pool, directory, () => {});
    } catch (error) {
      logger.warn({ err: error }, "webhook endpoints could not be read from the database; trying again at the next refresh");
    }
    const relaysWebhooks = directory.organizationIds().length > 0 || keyring !== null;
    const metrics = createOutboxMetrics({
      registry: deps.registry,
      pool: gaugePool,
      logger,
      targets: [...(relaysWebhooks ? [DISPATCH_TARGET] : []), ...(deps.eventsQueue ? [QUEUE_TARGET] : [])],
    });
    metrics.endpoints(directory.organizationIds().length);
    const parts: OutboxParts = { deps, owner, pool, directory, metrics, sender };
    const delivery = relaysWebhooks ? startDelivery(parts) : null;
    // Awaited: a target new to this database starts before the first event is written.
    const relay = await startRelay(parts, delivery, relaysWebhooks);
    if (delivery) loops("webhook delivery", () => delivery.close());
    if (keyring) {
      const timer = refreshEndpointsEvery(parts, delivery);
      steps.add("endpoint refresh", async () => clearInterval(timer));
    }
    loops("outbox relay", () => relay.close());
    if (deps.sweeps) {
      // A recovery's events go out as soon as it ends, not at the next OUTBOX_POLL_INTERVAL.
      const stop = deps.sweeps.onIdle(() => {
        relay.wake();
        delivery?.wake();
      });
      steps.add("sweep listener", async () => stop());
    }
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
    loops("events retention", () => retention.close());
  } catch (error) {
    await steps.close();
    throw error;
  }
  let closed: Promise<void> | undefined;
  return { endpoints: directory, sender, close: () => (closed ??= steps.close()) };
}

/** What the outbox's parts are started with. */
interface OutboxParts {
  deps: OutboxDeps;
  owner: string;
  pool: pg.Pool;
  directory: EndpointDirectory;
  metrics: OutboxMetrics;
  sender: WebhookSender;
}

type AddStep = (name: string, close: () => Promise<unknown>) => void;

/**
 * Steps closed in the reverse of their order; a step that fails is logged and the others still close.
 * A group's members close at the same time: each is bounded on its own, and none waits on another,
 * so the group takes the longest of their bounds, not their sum.
 */
function shutdownSteps(logger: Logger): { add: AddStep; group(name: string): AddStep; close(): Promise<void> } {
  type Step = { name: string; close: () => Promise<unknown> };
  const steps: Step[] = [];
  const closeOne = async (step: Step) => {
    try {
      await step.close();
    } catch (error) {
      logger.warn({ err: error, step: step.name }, "outbox: shutdown step failed");
    }
  };
  return {
    add: (name, close) => {
      steps.push({ name, close });
    },
    group: (name) => {
      const members: Step[] = [];
      steps.push({ name, close: () => Promise.all(members.map(closeOne)) });
      return (member, close) => {
        members.push({ name: member, close });
      };
    },
    close: async () => {
      for (const step of steps.splice(0).reverse()) await closeOne(step);
    },
  };
}

/** Reads the database's endpoints again and reports how many organizations have one. Out: the organizations new since the last read. */
async function refreshEndpoints(pool: pg.Pool, directory: EndpointDirectory, onEndpoints: (count: number) => void): Promise<number[]> {
  const added = await directory.refresh();
  onEndpoints(directory.organizationIds().length);
  // A new organization starts with the events committed from now on.
  if (added.length > 0) await ensureTargets(pool, [{ target: DISPATCH_TARGET, organizationId: null }, ...added.map((id) => ({ target: webhookTarget(id), organizationId: id }))]);
  return added;
}

/** Refreshes the endpoints every WEBHOOK_ENDPOINTS_REFRESH; a failure is counted, and logged once per distinct error. */
function refreshEndpointsEvery({ deps, pool, directory, metrics }: OutboxParts, delivery: WebhookDelivery | null): NodeJS.Timeout {
  const { logger } = deps;
  let lastError = "";
  return setInterval(() => {
    refreshEndpoints(pool, directory, metrics.endpoints).then(
      (added) => {
        lastError = "";
        if (added.length > 0) delivery?.wake();
      },
      (error: Error) => {
        metrics.relayError("webhook");
        if (error.message !== lastError) logger.warn({ err: error }, "webhook endpoints could not be read from the database; trying again at the next refresh");
        lastError = error.message;
      },
    );
  }, deps.settings.webhookEndpointsRefreshMs);
}

function startDelivery({ deps, owner, pool, directory, metrics, sender }: OutboxParts): WebhookDelivery {
  const { settings } = deps;
  return startWebhookDelivery({
    pool,
    owner,
    endpoints: directory,
    sender,
    leaseMs: settings.outboxLeaseMs,
    pollIntervalMs: settings.outboxPollIntervalMs,
    concurrency: settings.webhookConcurrency,
    endpointConcurrency: settings.webhookEndpointConcurrency,
    turnMs: settings.webhookOrganizationTurnMs,
    pageSize: settings.outboxBatchSize,
    timeoutMs: settings.webhookTimeoutMs,
    retryDelayMs: settings.webhookRetryDelayMs,
    retryMaxDelayMs: settings.webhookRetryMaxDelayMs,
    retryForMs: settings.webhookRetryForMs,
    logger: deps.logger,
    metrics,
    ...(deps.sweeps ? { deferWhile: deps.sweeps.active } : {}),
  });
}

function startRelay({ deps, owner, pool, directory, metrics }: OutboxParts, delivery: WebhookDelivery | null, relaysWebhooks: boolean): Promise<OutboxRelay> {
  const { settings } = deps;
  return startOutboxRelay({
    pool,
    owner,
    logger: deps.logger,
    metrics,
    intervalMs: settings.outboxPollIntervalMs,
    leaseMs: settings.outboxLeaseMs,
    batchSize: settings.outboxBatchSize,
    eventsQueue: deps.eventsQueue,
    eventsQueueMaxWaiting: settings.eventsQueueMaxWaiting,
    webhookOrganizationIds: directory.organizationIds,
    relaysWebhooks,
    ...(delivery ? { onDispatched: delivery.wake } : {}),
    ...(deps.sweeps ? { deferWhile: deps.sweeps.active } : {}),
  });
}
