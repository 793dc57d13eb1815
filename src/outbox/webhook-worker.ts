// The webhooks queue's worker. One job delivers one organization's pending events to its endpoint,
// one at a time, in (txid, id) order, moving the organization's position after each page. A failed
// request stops the job: BullMQ retries it with backoff (delayed on the board, with the reason),
// so the failing event goes out again before any later one. An event that has failed for
// WEBHOOK_RETRY_FOR is given up: the position moves past it and the job fails for good, visible on
// the board; the relay then starts a job for the next events. The organization's advisory lock
// makes sure no two jobs (a stalled one re-run, two replicas) deliver its events at once.
import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job, type Processor } from "bullmq";
import type pg from "pg";
import type { Logger } from "pino";
import { advanceOutboxCursor, currentSnapshot, finishOutboxBatch, pinOutboxBatch, readOutboxCursor, recordDeliveryFailure } from "./sql/outbox-cursors.js";
import { readOutboxEvents } from "./sql/read-outbox-events.js";
import { formatDuration } from "../rules/duration.js";
import type { OutboxMetrics } from "./outbox-metrics.js";
import { WEBHOOK_JOB, WEBHOOKS_QUEUE } from "../platform/queue-names.js";
import { toEventMessage } from "./message.js";
import { endpointLabel, sendWebhook, signer } from "./send-webhook.js";
import { webhookTarget, withTargetLock } from "./target-lock.js";
import type { WebhookEndpoint } from "./webhook-config.js";

export interface WebhookJobData {
  organizationId: number;
}

export interface WebhookJobResult {
  delivered: number;
}

export interface WebhookDeliveryOptions {
  pool: pg.Pool;
  endpoints: readonly WebhookEndpoint[];
  batchSize: number;
  timeoutMs: number;
  retryForMs: number;
  logger: Logger;
  metrics: OutboxMetrics;
  /** True once shutdown began: the job ends after the request in flight. */
  stopping: () => boolean;
  /** A job hands over after this long, so one busy organization does not hold a slot forever. */
  jobBudgetMs?: number;
  /** True while this process sweeps: the job ends after its page and the relay restarts it later (see OutboxRelayOptions.deferWhile). */
  deferWhile?: () => boolean;
}

/** A job is retried until its event is given up by time (WEBHOOK_RETRY_FOR), not by count. */
export const WEBHOOK_JOB_ATTEMPTS = 1_000_000;

/** Exponential from `firstMs`, doubling per failed attempt, at most `maxMs`, ±20 % jitter so endpoints coming back are not hit in lockstep. */
export function webhookBackoff(firstMs: number, maxMs: number): (attemptsMade: number) => number {
  return (attemptsMade) => {
    const base = Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(attemptsMade - 1, 0), 40));
    return Math.round(base * (0.8 + 0.4 * Math.random()));
  };
}

export function createWebhookProcessor(options: WebhookDeliveryOptions): Processor<WebhookJobData, WebhookJobResult> {
  const endpoints = new Map(options.endpoints.map((e) => [e.organizationId, { endpoint: e, sign: signer(e) }]));
  const budgetMs = options.jobBudgetMs ?? 20_000;
  return async (job: Job<WebhookJobData, WebhookJobResult>, token?: string) => {
    const organizationId = job.data?.organizationId;
    const entry = typeof organizationId === "number" ? endpoints.get(organizationId) : undefined;
    if (job.name !== WEBHOOK_JOB || !entry) {
      throw new UnrecoverableError(`BadRequest: no webhook endpoint is configured for organization ${JSON.stringify(organizationId)} (job ${job.name} on ${WEBHOOKS_QUEUE})`);
    }
    const { endpoint, sign } = entry;
    const target = webhookTarget(endpoint.organizationId);
    const started = Date.now();

    const result = await withTargetLock(options.pool, target, async (client) => {
      let delivered = 0;
      while (!options.stopping() && Date.now() - started < budgetMs) {
        const cursor = await readOutboxCursor(client, target);
        const snapTo = cursor.snapTo ?? (await currentSnapshot(client));
        const rows = await readOutboxEvents(client, { ...cursor, snapTo }, endpoint.organizationId, options.batchSize);
        if (rows.length === 0) {
          await finishOutboxBatch(client, target, snapTo);
          if (cursor.snapTo === null) break; // caught up with a fresh snapshot
          continue;
        }
        if (cursor.snapTo === null) await pinOutboxBatch(client, target, snapTo);
        let done = 0;
        for (const row of rows) {
          if (options.stopping()) break;
          const message = toEventMessage(row);
          const outcome = await sendWebhook(endpoint, sign, message, options.timeoutMs);
          if (outcome.ok) {
            done += 1;
            options.metrics.delivered("webhook", "delivered");
            continue;
          }
          const last = done > 0 ? rows[done - 1]! : undefined;
          if (last) await advanceOutboxCursor(client, target, snapTo, last, done);
          options.metrics.delivered("webhook", "failed");
          const failure = await recordDeliveryFailure(client, target, row.id, outcome.reason);
          const failingFor = formatDuration(failure.failingForSeconds);
          const line = { organizationId: endpoint.organizationId, endpoint: endpointLabel(endpoint), eventId: message.id, taskId: message.taskId, attempts: failure.attempts, failingForSeconds: Math.round(failure.failingForSeconds), reason: outcome.reason };
          if (failure.failingForSeconds * 1000 >= options.retryForMs) {
            await advanceOutboxCursor(client, target, snapTo, row, 0);
            options.metrics.delivered("webhook", "given_up");
            options.logger.error(line, "webhook given up: the event failed for longer than WEBHOOK_RETRY_FOR; the next events go out");
            throw new UnrecoverableError(`gave up ${message.id} (task ${message.taskId}) after ${failure.attempts} attempts over ${failingFor}: ${outcome.reason}`);
          }
          options.logger.warn(line, "webhook delivery failed; will retry");
          throw new Error(`${message.id} (task ${message.taskId}) not delivered: ${outcome.reason}; attempt ${failure.attempts}, failing for ${failingFor}`);
        }
        if (done > 0) await advanceOutboxCursor(client, target, snapTo, rows[done - 1]!, done);
        delivered += done;
        if (options.deferWhile?.()) break; // a page at a time while this process sweeps
      }
      return delivered;
    });
    if (!result.locked) {
      // Another job of this organization is delivering (a stalled job re-run): wait, without spending an attempt.
      await job.moveToDelayed(Date.now() + 1000, token);
      throw new DelayedError();
    }
    return { delivered: result.value };
  };
}

export interface WebhookWorkerOptions extends WebhookDeliveryOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  retryDelayMs: number;
  retryMaxDelayMs: number;
}

export function createWebhookWorker(options: WebhookWorkerOptions): Worker<WebhookJobData, WebhookJobResult> {
  const backoff = webhookBackoff(options.retryDelayMs, options.retryMaxDelayMs);
  return new Worker<WebhookJobData, WebhookJobResult>(WEBHOOKS_QUEUE, createWebhookProcessor(options), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    settings: { backoffStrategy: (attemptsMade) => backoff(attemptsMade) },
  });
}
