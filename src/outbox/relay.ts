// The outbox relay: every replica runs one, a timer that never overlaps itself and never throws
// (it logs, counts and tries again at the next interval). Each round, the replica that holds the
// target's lease (the others skip it):
//  - dispatch (when webhooks are configured): reads the events committed since its position once,
//    for all organizations (only id, txid and organization: an index range of task_events), and
//    marks the organizations among them that have an endpoint as pending, in the statement that
//    moves its position. The deliveries (delivery.ts) then read only those organizations' events.
//    A round costs what the new events cost, whatever the number of organizations.
//  - the events queue (EVENTS_QUEUE_ENABLED): adds the next pages of events as jobs whose id is
//    `evt_<id>` (BullMQ ignores an id it holds: a page re-added after a crash adds nothing twice),
//    then moves the position — unless the queue holds EVENTS_QUEUE_MAX_WAITING jobs nobody took:
//    then it stops adding (watchdog_events_queue_capped = 1) and the events wait in the outbox.
// Leases, not locks: a replica that dies stops renewing, and another takes over after OUTBOX_LEASE.
import type { Queue } from "bullmq";
import type pg from "pg";
import type { Logger } from "pino";
import { KEEP_COMPLETED, KEEP_FAILED } from "../platform/queue-names.js";
import { toEventMessage, type OutboxEventRow, type TaskEventMessage } from "./message.js";
import { settlesWithin } from "../platform/deadline.js";
import { wakeable } from "../platform/coalesce.js";
import { relayTarget, type PageRelay } from "./cursor-loop.js";
import { giveWay } from "./give-way.js";
import type { OutboxMetrics, OutboxTargetKind } from "./metrics.js";
import { readEventsPage, type RoutingRow } from "./sql/read-events.js";
import { advanceTarget, claimTarget, dispatchPage, DISPATCH_TARGET, ensureTargets, QUEUE_TARGET, releaseTarget, webhookTarget } from "./sql/targets.js";

export interface OutboxRelayOptions {
  pool: pg.Pool;
  owner: string;
  logger: Logger;
  metrics: OutboxMetrics;
  intervalMs: number;
  leaseMs: number;
  batchSize: number;
  /** null: the events queue is off. */
  eventsQueue: Queue<TaskEventMessage> | null;
  /** Jobs waiting in the events queue past which the relay stops adding. */
  eventsQueueMaxWaiting: number;
  /** The organizations with an endpoint now (their targets exist). */
  webhookOrganizationIds: () => readonly number[];
  /**
   * Webhooks may be sent here (endpoints in the environment, or WEBHOOK_SECRETS_KEY): dispatch then runs
   * even while no organization has an endpoint — after the last one was revoked its position must keep
   * up, or the lag gauge and the retention wait on it. Without its row (no endpoint ever) a round finds
   * nothing to claim. Absent: dispatch runs while some organization has an endpoint.
   */
  relaysWebhooks?: boolean;
  /** Called after dispatch marked organizations (this replica's delivery looks for them at once). */
  onDispatched?: () => void;
  deferWhile?: () => boolean;
}

export interface OutboxRelay {
  /** Runs a round now, or right after the one in flight (a sweep of this process ended: its events go out at once). */
  wake(): void;
  /** Stops the timer and waits for the round in flight. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * How long close() waits for the round in flight. A healthy round stops between two pages once
 * close() began (milliseconds); one that waits longer waits on Redis or PostgreSQL, and cutting it
 * loses nothing: its position did not move, and the next relay adds its events again (one job per id).
 */
const CLOSE_WAIT_MS = 1000;
/** How long close() waits for its leases to be given up: past it they end by themselves (OUTBOX_LEASE). */
const RELEASE_WAIT_MS = 1000;
/** Pages per target and round: shutdown and the other target get their turn. */
const PAGES_PER_ROUND = 20;
/** Dispatch reads only three narrow columns: bigger pages. */
const DISPATCH_PAGE = 5000;

/** Every target a relay with these options needs a row for. */
export function relayTargets(options: Pick<OutboxRelayOptions, "eventsQueue" | "webhookOrganizationIds">): { target: string; organizationId: number | null }[] {
  const webhooks = options.webhookOrganizationIds();
  return [
    ...(webhooks.length > 0 ? [{ target: DISPATCH_TARGET, organizationId: null }] : []),
    ...(options.eventsQueue ? [{ target: QUEUE_TARGET, organizationId: null }] : []),
    ...webhooks.map((organizationId) => ({ target: webhookTarget(organizationId), organizationId })),
  ];
}

/** What one relay's rounds share: its options, when to stop, and what it last saw of the events queue. */
interface RelayContext {
  options: OutboxRelayOptions;
  shouldStop: () => boolean;
  /** Whether the last look found the events queue at its cap (a change is logged, not every look). */
  capped: boolean;
}

type Guard = (target: string, kind: OutboxTargetKind, work: () => Promise<void>) => Promise<void>;

/** Runs a target's work without throwing: a failure is counted, and logged once per target and distinct error. */
function relayGuard(options: OutboxRelayOptions): Guard {
  const lastError = new Map<string, string>();
  return async (target, kind, work) => {
    try {
      await work();
      if (lastError.delete(target)) options.logger.info({ target }, "outbox relay recovered");
    } catch (error) {
      options.metrics.relayError(kind);
      // One line per target and distinct error, not one per interval of an outage.
      const text = (error as Error)?.message ?? String(error);
      if (lastError.get(target) !== text) options.logger.warn({ err: error, target }, "outbox relay round failed; retrying at the next interval");
      lastError.set(target, text);
    }
  };
}

/**
 * A round of a target over every organization's events, PAGES_PER_ROUND pages at most; skipped unless
 * this replica holds its lease. False when another replica holds it.
 */
async function relayRound<Row extends { txid: string; id: string }>(
  ctx: RelayContext,
  target: string,
  relay: PageRelay<Row>,
  limits: { pageSize: number; shouldStop: () => boolean | Promise<boolean> },
): Promise<boolean> {
  const { pool, owner, leaseMs } = ctx.options;
  const cursor = await claimTarget(pool, target, owner, leaseMs);
  if (!cursor) return false; // another replica relays it
  await relayTarget(pool, owner, cursor, relay, { ...limits, maxPages: PAGES_PER_ROUND });
  return true;
}

/** Marks the organizations among the new events as pending, in the statement that moves dispatch's position. */
async function dispatch(ctx: RelayContext): Promise<void> {
  const { pool, owner, leaseMs } = ctx.options;
  const relay: PageRelay<RoutingRow> = {
    read: (position, limit) => readEventsPage(pool, position, null, "routing", limit),
    relay: async (rows, pinned) => {
      const organizations = [...new Set(rows.map((r) => r.organization_id))];
      const kept = await dispatchPage(pool, owner, leaseMs, pinned.snapTo, rows.at(-1)!, rows.length, organizations.map(webhookTarget));
      if (!kept) return { done: 0, stop: true };
      ctx.options.onDispatched?.();
      return { done: rows.length };
    },
  };
  await relayRound(ctx, DISPATCH_TARGET, relay, { pageSize: DISPATCH_PAGE, shouldStop: ctx.shouldStop });
}

/** Adds the new events to the events queue, then moves its position; stops while the queue is at its cap. */
async function relayQueue(ctx: RelayContext, queue: Queue<TaskEventMessage>): Promise<void> {
  const { pool, owner, leaseMs, metrics } = ctx.options;
  const relay: PageRelay<OutboxEventRow> = {
    read: (position, limit) => readEventsPage(pool, position, null, "full", limit),
    relay: async (rows, pinned) => {
      const messages = rows.map(toEventMessage);
      await queue.addBulk(messages.map((data) => ({ name: data.type, data, opts: { jobId: data.id, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED } })));
      if (!(await advanceTarget(pool, QUEUE_TARGET, owner, leaseMs, pinned.snapTo, rows.at(-1)!, rows.length))) return { done: 0, stop: true };
      metrics.delivered("queue", "delivered", rows.length);
      return { done: rows.length };
    },
  };
  const held = await relayRound(ctx, QUEUE_TARGET, relay, { pageSize: ctx.options.batchSize, shouldStop: async () => ctx.shouldStop() || (await queueAtCap(ctx, queue)) });
  // The replica that holds the queue's lease reports the cap; one that lost it (to a replica that took
  // over) would otherwise keep its last 1 for ever, and the alert (max across replicas) never clear.
  if (!held) {
    ctx.capped = false;
    metrics.queueCapped(false);
  }
}

/** Whether the events queue holds EVENTS_QUEUE_MAX_WAITING jobs nobody took (watchdog_events_queue_capped). */
async function queueAtCap(ctx: RelayContext, queue: Queue<TaskEventMessage>): Promise<boolean> {
  const { logger, eventsQueueMaxWaiting } = ctx.options;
  const waiting = await queue.getJobCountByTypes("wait", "prioritized", "delayed");
  const now = waiting >= eventsQueueMaxWaiting;
  if (now !== ctx.capped) {
    if (now) logger.warn({ waiting, max: eventsQueueMaxWaiting }, "events queue at its cap (EVENTS_QUEUE_MAX_WAITING): relaying to it paused; the events wait in the outbox");
    else logger.info({ waiting }, "events queue below its cap again: relaying to it resumed");
  }
  ctx.capped = now;
  ctx.options.metrics.queueCapped(now);
  return now;
}

/**
 * Creates the targets' rows (awaited, so a new target starts before the sweep writes anything) and
 * starts the timer. Never throws: a database away at start is retried each round.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { pool, owner } = options;
  const deferring = giveWay(options.deferWhile);
  const guard = relayGuard(options);
  let stopping = false;
  let ensured = false;
  let timer: NodeJS.Timeout | undefined;
  const ctx: RelayContext = { options, shouldStop: () => stopping || deferring(), capped: false };

  const ensure = () =>
    guard("targets", "queue", async () => {
      await ensureTargets(pool, relayTargets(options));
      ensured = true;
    });

  const runRound = async () => {
    if (deferring()) return;
    if (!ensured) {
      await ensure();
      if (!ensured) return;
    }
    if (options.relaysWebhooks || options.webhookOrganizationIds().length > 0) await guard(DISPATCH_TARGET, "webhook", () => dispatch(ctx));
    const queue = options.eventsQueue;
    if (queue && !stopping) await guard(QUEUE_TARGET, "queue", () => relayQueue(ctx, queue));
  };

  // One round at a time: every interval, and at once when woken (a wake during a round runs one more right after it).
  const rounds = wakeable(async () => {
    clearTimeout(timer);
    await runRound();
    if (stopping) return;
    // ±10 % jitter: replicas started together do not poll in lockstep.
    timer = setTimeout(() => rounds.wake(), Math.round(options.intervalMs * (0.9 + 0.2 * Math.random())));
  }, () => stopping);

  await ensure();
  rounds.wake();

  let closed: Promise<void> | undefined;
  return {
    wake: rounds.wake,
    close: () =>
      (closed ??= (async () => {
        stopping = true;
        clearTimeout(timer);
        // A round stuck on Redis (addBulk waits for a reconnect) must not hold shutdown: what it was
        // adding is re-added by the next relay (its position did not move), BullMQ keeping one job per id.
        await settlesWithin(rounds.running() ?? Promise.resolve(), CLOSE_WAIT_MS);
        // Handed over at once, not after the lease: a replica taking over (a rolling deploy) starts now.
        // Bounded: a database that does not answer (frozen) only leaves the hand-over to the lease's end.
        await settlesWithin(Promise.all([DISPATCH_TARGET, QUEUE_TARGET].map((target) => releaseTarget(pool, target, owner).catch(() => undefined))), RELEASE_WAIT_MS);
      })()),
  };
}
