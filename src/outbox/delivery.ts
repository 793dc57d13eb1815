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
// hands over after WEBHOOK_ORGANIZATION_TURN, between two requests (not only between two pages: a
// page of a slow endpoint takes minutes), so organizations waiting behind it get their turn.
import type pg from "pg";
import type { Logger } from "pino";
import { formatDuration } from "../rules/duration.js";
import type { OutboxEventRow } from "./message.js";
import { toEventMessage } from "./message.js";
import { endpointLabel, type WebhookSender } from "./send-webhook.js";
import type { DirectoryEntry, EndpointDirectory } from "./endpoint-directory.js";
import { relayTarget, type PinnedCursor } from "./cursor-loop.js";
import type { OutboxMetrics } from "./metrics.js";
import { PositionWriter } from "./position-writer.js";
import { readEventsPage } from "./sql/read-events.js";
import { claimDueTargets, recordFailure, releaseTarget, renewLeases, writePositions, type TargetCursor } from "./sql/targets.js";
import { giveWay } from "./give-way.js";
import { sendInWindow } from "./send-window.js";
import { recordGivenUp } from "./sql/given-up.js";
import { wakeable } from "../platform/coalesce.js";
import { settlesWithin } from "../platform/deadline.js";

/** How long close() waits for a claim of organizations in flight. */
const CLAIM_WAIT_MS = 1000;

export interface WebhookDeliveryOptions {
  pool: pg.Pool;
  /** This process's id in lease_owner. */
  owner: string;
  endpoints: EndpointDirectory;
  /** The connections requests go out on (send-webhook.ts). */
  sender: Pick<WebhookSender, "send">;
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
  /** How long one organization is delivered before it hands over: no new request of it starts after this. */
  turnMs: number;
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

/** What one delivery's organizations share. */
interface DeliveryContext {
  options: WebhookDeliveryOptions;
  writer: PositionWriter;
  backoff: (attempts: number) => number;
  deferring: () => boolean;
  /** True once close() began. */
  stopping: () => boolean;
  onError: (what: string) => (error: unknown) => void;
}

/** Errors counted, and logged once per distinct error in a row, not once per poll of an outage. */
function throttledErrors(metrics: OutboxMetrics, logger: Logger): (what: string) => (error: unknown) => void {
  let lastError = "";
  return (what) => (error) => {
    metrics.relayError("webhook");
    const text = `${what}: ${(error as Error)?.message ?? String(error)}`;
    if (text !== lastError) logger.warn({ err: error }, `webhook delivery: ${what} failed; retrying`);
    lastError = text;
  };
}

/** One organization's round: whether a request of it failed, and whether its turn is over. */
interface Round {
  failed: boolean;
  turnOver(): boolean;
}

async function sendPage(ctx: DeliveryContext, target: string, organizationId: number, rows: OutboxEventRow[], cursor: PinnedCursor, round: Round) {
  const { options, writer } = ctx;
  const entry = options.endpoints.get(organizationId);
  if (!entry) return { done: 0, stop: true }; // its endpoint was disabled meanwhile
  const { sign } = entry;
  const endpoint = entry;
  let noted = 0;
  // An endpoint that is failing is probed with one request at a time until it answers again.
  const width = cursor.failingEventId === null ? options.endpointConcurrency : 1;
  const { prefix, failure } = await sendInWindow(rows, width, {
    send: async (row) => {
      const outcome = await options.sender.send(endpoint, sign, toEventMessage(row), options.timeoutMs);
      if (outcome.ok) options.metrics.delivered("webhook", "delivered");
      return outcome;
    },
    commit: async (upTo) => {
      if (upTo > noted) {
        writer.note(target, cursor.snapTo, rows[upTo - 1]!, upTo - noted);
        noted = upTo;
      }
      return (await writer.flush()) && !writer.lost.has(target);
    },
    halted: () => ctx.stopping() || writer.lost.has(target) || round.turnOver(),
  });
  if (!failure) return { done: prefix, stop: prefix < rows.length };
  round.failed = true;
  return giveUpOrBackOff(ctx, { target, organizationId, endpoint, cursor }, rows, prefix, failure);
}

/**
 * After a failed request: the organization's lease is given up with a retry time (backoff), or,
 * the event failing for longer than WEBHOOK_RETRY_FOR, the event is given up and the position moves past it.
 */
async function giveUpOrBackOff(
  ctx: DeliveryContext,
  page: { target: string; organizationId: number; endpoint: DirectoryEntry; cursor: PinnedCursor },
  rows: OutboxEventRow[],
  prefix: number,
  failure: { index: number; reason: string },
) {
  const { pool, owner, leaseMs, logger, metrics } = ctx.options;
  const { target, organizationId, endpoint, cursor } = page;
  const row = rows[failure.index]!;
  const message = toEventMessage(row);
  metrics.delivered("webhook", "failed");
  const attempts = cursor.failingEventId === row.id ? cursor.failedAttempts + 1 : 1;
  const failed = await recordFailure(pool, target, owner, row.id, failure.reason);
  const line = { organizationId, endpoint: endpointLabel(endpoint), eventId: message.id, taskId: message.taskId, attempts: failed.attempts, failingForSeconds: Math.round(failed.failingForSeconds), reason: failure.reason };
  if (failed.failingForSeconds * 1000 >= ctx.options.retryForMs && prefix === failure.index) {
    // Past WEBHOOK_RETRY_FOR: move past it; the next events go out. Recorded first, for the replay (replay.ts).
    await recordGivenUp(pool, { eventId: row.id, organizationId, attempts: failed.attempts, lastError: failure.reason });
    await writePositions(pool, owner, leaseMs, [{ target, snapTo: cursor.snapTo, last: row, count: 0 }]);
    await releaseTarget(pool, target, owner, 0);
    metrics.delivered("webhook", "given_up");
    logger.error({ ...line, failingFor: formatDuration(failed.failingForSeconds) }, "webhook given up: the event failed for longer than WEBHOOK_RETRY_FOR; the next events go out");
    return { done: prefix + 1, stop: true };
  }
  await releaseTarget(pool, target, owner, ctx.backoff(attempts));
  logger.warn(line, "webhook delivery failed; will retry");
  return { done: prefix, stop: true };
}

/** Delivers one leased organization's events until it is caught up, fails, or its turn is over; then gives the lease up. */
async function deliver(ctx: DeliveryContext, cursor: TargetCursor): Promise<void> {
  const { options, writer } = ctx;
  const { pool, owner } = options;
  const target = cursor.target;
  const organizationId = cursor.organizationId!;
  const turnEnds = Date.now() + options.turnMs;
  const round: Round = { failed: false, turnOver: () => Date.now() > turnEnds };
  try {
    const end = await relayTarget(
      pool,
      owner,
      cursor,
      {
        read: (position, limit) => readEventsPage(pool, position, organizationId, "full", limit),
        relay: (rows, pinned) => sendPage(ctx, target, organizationId, rows, pinned, round),
      },
      { pageSize: options.pageSize, maxPages: Number.MAX_SAFE_INTEGER, shouldStop: () => ctx.stopping() || writer.lost.has(target) || ctx.deferring() || round.turnOver() },
    );
    await writer.settle(target);
    if (end !== "lost" && !round.failed) await releaseTarget(pool, target, owner, 0);
  } catch (error) {
    ctx.onError("an organization's round")(error);
    await writer.settle(target).catch(() => undefined);
    // Not at once again: a database that just failed gets a poll interval.
    await releaseTarget(pool, target, owner, options.pollIntervalMs).catch(() => undefined);
  }
}

/** Leases as many due organizations as there are free places and starts delivering them; `done` when one finishes. */
async function claimOrganizations(ctx: DeliveryContext, active: Map<string, Promise<void>>, done: () => void): Promise<void> {
  const { pool, owner, leaseMs, concurrency, endpoints } = ctx.options;
  if (ctx.stopping() || ctx.deferring()) return;
  const free = concurrency - active.size;
  if (free <= 0) return;
  let cursors: TargetCursor[];
  try {
    cursors = await claimDueTargets(pool, owner, leaseMs, endpoints.organizationIds(), free);
  } catch (error) {
    ctx.onError("claiming organizations")(error);
    return;
  }
  if (ctx.stopping()) {
    // Claimed while the shutdown began: no round starts now. The leases are handed back if the
    // database answers (not waited for: close does not wait on this claim past CLAIM_WAIT_MS); else they expire.
    for (const cursor of cursors) void releaseTarget(pool, cursor.target, owner, 0).catch(() => undefined);
    return;
  }
  for (const cursor of cursors) {
    const run = deliver(ctx, cursor).finally(() => {
      active.delete(cursor.target);
      done();
    });
    active.set(cursor.target, run);
  }
}

/** Renews the leases of the organizations being delivered; one found gone is marked lost, and its delivery stops. */
function startHeartbeat(ctx: DeliveryContext, active: Map<string, Promise<void>>): NodeJS.Timeout {
  const { pool, owner, leaseMs } = ctx.options;
  return setInterval(() => {
    const targets = [...active.keys()];
    if (targets.length === 0) return;
    renewLeases(pool, owner, leaseMs, targets).then(
      (kept) => {
        for (const t of targets) if (!kept.has(t) && active.has(t)) ctx.writer.lost.add(t);
      },
      ctx.onError("renewing leases"),
    );
  }, Math.max(100, Math.floor(leaseMs / 3)));
}

export function startWebhookDelivery(options: WebhookDeliveryOptions): WebhookDelivery {
  const { pool, owner, leaseMs, logger, metrics } = options;
  const onError = throttledErrors(metrics, logger);
  let stopping = false;
  const ctx: DeliveryContext = {
    options,
    writer: new PositionWriter(pool, owner, leaseMs, onError("writing positions")),
    backoff: webhookBackoff(options.retryDelayMs, options.retryMaxDelayMs),
    deferring: giveWay(options.deferWhile),
    stopping: () => stopping,
    onError,
  };
  const active = new Map<string, Promise<void>>();
  const claims = wakeable(
    () => claimOrganizations(ctx, active, () => claims.wake()),
    () => stopping,
  );

  const poll = setInterval(claims.wake, options.pollIntervalMs);
  // Leases of organizations waiting on a slow endpoint are renewed here; positions renew the rest.
  const heartbeat = startHeartbeat(ctx, active);
  claims.wake();

  let closed: Promise<void> | undefined;
  return {
    wake: claims.wake,
    close: () =>
      (closed ??= (async () => {
        stopping = true;
        clearInterval(poll);
        // A claim in flight has handed no organization to a round yet: waited for briefly, never on
        // a database that does not answer (frozen), whose leases then expire by themselves (OUTBOX_LEASE).
        await settlesWithin(claims.running() ?? Promise.resolve(), CLAIM_WAIT_MS);
        await Promise.allSettled([...active.values()]);
        clearInterval(heartbeat);
      })()),
  };
}
