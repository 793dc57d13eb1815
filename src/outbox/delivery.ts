// Webhook delivery. Every replica runs one: it leases up to WEBHOOK_CONCURRENCY organizations that
// have undelivered events (marked pending by dispatch, relay.ts) and delivers each one's events in
// (txid, id) order, WEBHOOK_ENDPOINT_CONCURRENCY requests at a time: an organization's events are
// spread over that many lanes by task, so one task's events go one after the other, in order. Each
// delivered event moves the organization's position (group commit, position-writer.ts); a lease
// that is not renewed (the process died) is taken over by another replica after OUTBOX_LEASE.
//
// A failed request stops that organization only: the lease is given up with a retry time
// (exponential backoff), and every other organization goes on. An event failing for longer than
// WEBHOOK_RETRY_FOR is given up: the position moves past it. An organization with a long backlog
// hands over after WEBHOOK_TARGET_BUDGET so organizations waiting behind it get their turn.
import type pg from "pg";
import type { Logger } from "pino";
import { formatDuration } from "../rules/duration.js";
import type { OutboxEventRow } from "./message.js";
import { toEventMessage } from "./message.js";
import { endpointLabel, sendWebhook, signer } from "./send-webhook.js";
import type { WebhookEndpoint } from "./webhook-config.js";
import { relayTarget, type PinnedCursor } from "./cursor-loop.js";
import type { OutboxMetrics } from "./metrics.js";
import { PositionWriter } from "./position-writer.js";
import { readEventsPage } from "./sql/read-events.js";
import { claimDueTargets, recordFailure, releaseTarget, renewLeases, writePositions, type TargetCursor } from "./sql/targets.js";
import { giveWay } from "./give-way.js";
import { sendInWindow } from "./send-window.js";

export interface WebhookDeliveryOptions {
  pool: pg.Pool;
  /** This process's id in lease_owner. */
  owner: string;
  endpoints: readonly WebhookEndpoint[];
  leaseMs: number;
  pollIntervalMs: number;
  /** Organizations delivered at once by this replica. */
  concurrency: number;
  /** Requests in flight at once to one organization's endpoint. */
  endpointConcurrency: number;
  pageSize: number;
  timeoutMs: number;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  retryForMs: number;
  /** How long one organization is delivered before it hands over (default 10 s). */
  targetBudgetMs?: number;
  logger: Logger;
  metrics: OutboxMetrics;
  /** True while this process sweeps: no new organization is started, running ones stop after their page. */
  deferWhile?: () => boolean;
}

export interface WebhookDelivery {
  /** Looks for due organizations now (dispatch marked some). */
  wake(): void;
  /** Stops taking organizations, lets the requests in flight finish, writes the positions, gives the leases up. Safe to call twice. */
  close(): Promise<void>;
}

/** Exponential from `firstMs`, doubling per failed attempt, at most `maxMs`, ±20 % jitter so endpoints coming back are not hit in lockstep. */
export function webhookBackoff(firstMs: number, maxMs: number): (attempts: number) => number {
  return (attempts) => {
    const base = Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(attempts - 1, 0), 40));
    return Math.round(base * (0.8 + 0.4 * Math.random()));
  };
}

export function startWebhookDelivery(options: WebhookDeliveryOptions): WebhookDelivery {
  const { pool, owner, leaseMs, logger, metrics } = options;
  const endpoints = new Map(options.endpoints.map((e) => [e.organizationId, { endpoint: e, sign: signer(e) }]));
  const organizationIds = [...endpoints.keys()];
  const backoff = webhookBackoff(options.retryDelayMs, options.retryMaxDelayMs);
  const budgetMs = options.targetBudgetMs ?? 10_000;
  const deferring = giveWay(options.deferWhile);
  let lastError = "";
  const onError = (what: string) => (error: unknown) => {
    metrics.relayError("webhook");
    const text = `${what}: ${(error as Error)?.message ?? String(error)}`;
    if (text !== lastError) logger.warn({ err: error }, `webhook delivery: ${what} failed; retrying`);
    lastError = text;
  };
  const writer = new PositionWriter(pool, owner, leaseMs, onError("writing positions"));
  const active = new Map<string, Promise<void>>();
  let stopping = false;

  const sendPage = async (target: string, organizationId: number, rows: OutboxEventRow[], cursor: PinnedCursor, state: { failed: boolean }) => {
    const { endpoint, sign } = endpoints.get(organizationId)!;
    let noted = 0;
    // An endpoint that is failing is probed with one request at a time until it answers again.
    const width = cursor.failingEventId === null ? options.endpointConcurrency : 1;
    const { prefix, failure } = await sendInWindow(rows, width, {
      send: async (row) => {
        const outcome = await sendWebhook(endpoint, sign, toEventMessage(row), options.timeoutMs);
        if (outcome.ok) metrics.delivered("webhook", "delivered");
        return outcome;
      },
      commit: async (upTo) => {
        if (upTo > noted) {
          writer.note(target, cursor.snapTo, rows[upTo - 1]!, upTo - noted);
          noted = upTo;
        }
        return (await writer.flush()) && !writer.lost.has(target);
      },
      halted: () => stopping || writer.lost.has(target),
    });
    if (!failure) return { done: prefix, stop: prefix < rows.length };

    state.failed = true;
    const row = rows[failure.index]!;
    const message = toEventMessage(row);
    metrics.delivered("webhook", "failed");
    const attempts = cursor.failingEventId === row.id ? cursor.failedAttempts + 1 : 1;
    const failed = await recordFailure(pool, target, owner, row.id, failure.reason);
    const line = { organizationId, endpoint: endpointLabel(endpoint), eventId: message.id, taskId: message.taskId, attempts: failed.attempts, failingForSeconds: Math.round(failed.failingForSeconds), reason: failure.reason };
    if (failed.failingForSeconds * 1000 >= options.retryForMs && prefix === failure.index) {
      // Past WEBHOOK_RETRY_FOR: move past it; the next events go out.
      await writePositions(pool, owner, leaseMs, [{ target, snapTo: cursor.snapTo, last: row, count: 0 }]);
      await releaseTarget(pool, target, owner, 0);
      metrics.delivered("webhook", "given_up");
      logger.error({ ...line, failingFor: formatDuration(failed.failingForSeconds) }, "webhook given up: the event failed for longer than WEBHOOK_RETRY_FOR; the next events go out");
      return { done: prefix + 1, stop: true };
    }
    await releaseTarget(pool, target, owner, backoff(attempts));
    logger.warn(line, "webhook delivery failed; will retry");
    return { done: prefix, stop: true };
  };

  const deliver = async (cursor: TargetCursor) => {
    const target = cursor.target;
    const organizationId = cursor.organizationId!;
    const started = Date.now();
    const state = { failed: false };
    try {
      const end = await relayTarget(
        pool,
        owner,
        cursor,
        {
          read: (position, limit) => readEventsPage(pool, position, organizationId, "full", limit),
          relay: (rows, pinned) => sendPage(target, organizationId, rows, pinned, state),
        },
        { pageSize: options.pageSize, maxPages: Number.MAX_SAFE_INTEGER, shouldStop: () => stopping || writer.lost.has(target) || deferring() || Date.now() - started > budgetMs },
      );
      await writer.settle(target);
      if (end !== "lost" && !state.failed) await releaseTarget(pool, target, owner, 0);
    } catch (error) {
      onError("an organization's round")(error);
      await writer.settle(target).catch(() => undefined);
      // Not at once again: a database that just failed gets a poll interval.
      await releaseTarget(pool, target, owner, options.pollIntervalMs).catch(() => undefined);
    }
  };

  let claiming: Promise<void> | undefined;
  let again = false;
  const claim = async () => {
    if (stopping || deferring()) return;
    const free = options.concurrency - active.size;
    if (free <= 0) return;
    let cursors: TargetCursor[];
    try {
      cursors = await claimDueTargets(pool, owner, leaseMs, organizationIds, free);
    } catch (error) {
      onError("claiming organizations")(error);
      return;
    }
    for (const cursor of cursors) {
      const run = deliver(cursor).finally(() => {
        active.delete(cursor.target);
        wake();
      });
      active.set(cursor.target, run);
    }
  };
  const wake = () => {
    if (stopping) return;
    if (claiming) {
      again = true;
      return;
    }
    claiming = claim().finally(() => {
      claiming = undefined;
      if (again) {
        again = false;
        wake();
      }
    });
  };

  const poll = setInterval(wake, options.pollIntervalMs);
  // Leases of organizations waiting on a slow endpoint are renewed here; positions renew the rest.
  const heartbeat = setInterval(() => {
    const targets = [...active.keys()];
    if (targets.length === 0) return;
    renewLeases(pool, owner, leaseMs, targets).then(
      (kept) => {
        for (const t of targets) if (!kept.has(t) && active.has(t)) writer.lost.add(t);
      },
      onError("renewing leases"),
    );
  }, Math.max(100, Math.floor(leaseMs / 3)));
  wake();

  let closed: Promise<void> | undefined;
  return {
    wake,
    close: () =>
      (closed ??= (async () => {
        stopping = true;
        clearInterval(poll);
        await claiming?.catch(() => undefined);
        await Promise.allSettled([...active.values()]);
        clearInterval(heartbeat);
      })()),
  };
}
